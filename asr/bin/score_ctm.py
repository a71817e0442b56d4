"""Score a CTM's word times against a reference CTM, and its confidences against transcripts.

Prints the boundary error (mean, 95th percentile and max of |start| and |end| differences,
ms) over the hypothesis words the edit-distance alignment matches to reference words of
the same spelling; with --text, how well the word confidences separate correct from wrong
words (ROC AUC, NIST's normalized cross entropy).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("hyp", type=Path, help="CTM to score ('asr decode --ctm', 'asr align')")
    p.add_argument("--ref", type=Path, help="reference CTM of the true word times")
    p.add_argument("--text", type=Path,
                   help="reference transcripts (Kaldi text): score the CTM's confidences")


def main(args: argparse.Namespace) -> int:
    from asr.data.ctm import read_ctm
    from asr.data.kaldi_dir import read_kv
    from asr.errors import AsrError
    from asr.scoring import score_confidence, score_timing

    if args.ref is None and args.text is None:
        raise AsrError("nothing to score: give --ref (times) and/or --text (confidences)")
    hyp = read_ctm(args.hyp)
    if args.ref is not None:
        print(score_timing(read_ctm(args.ref), hyp).summary())
    if args.text is not None:
        refs = read_kv(args.text, what="transcript", allow_empty=True)
        print(score_confidence(refs, {u: hyp.get(u, []) for u in refs}).summary())
    return 0
