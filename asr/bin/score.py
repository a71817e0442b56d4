"""Score a hypothesis text file against a reference (both Kaldi text format): %WER or %CER.

Prints Kaldi's summary line first, then per-utterance alignments.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", type=Path)
    p.add_argument("hyp", type=Path)
    p.add_argument("--cer", action="store_true", help="character error rate")
    p.add_argument("--out", type=Path, help="write the report here instead of stdout")


def main(args: argparse.Namespace) -> int:
    from asr.data.kaldi_dir import read_kv
    from asr.scoring import score
    from asr.utils import atomic_write_text

    refs = read_kv(args.ref, what="transcript")
    hyps = read_kv(args.hyp, allow_empty=True)
    report = score(refs, hyps, args.cer)
    if args.out:
        atomic_write_text(args.out, report.render())
        print(report.summary())
    else:
        print(report.render(), end="")
    return 0
