"""Score a hypothesis text file against a reference (both Kaldi text format): %WER or %CER.

Prints Kaldi's summary line first (with insertion, deletion and substitution counts),
then, with --utt2spk, a per-speaker table, then per-utterance alignments (ref, hyp,
C/S/I/D ops and #csid counts, as Kaldi's align-text / wer_per_utt_details).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", type=Path, help="reference transcripts (Kaldi text: <utt> <words>)")
    p.add_argument("hyp", type=Path, help="hypotheses in the same format")
    p.add_argument("--cer", action="store_true", help="character error rate")
    p.add_argument("--utt2spk", type=Path, help="Kaldi utt2spk: adds a per-speaker table")
    p.add_argument("--out", type=Path, help="write the report here instead of stdout")


def main(args: argparse.Namespace) -> int:
    from asr.atomic_io import atomic_write_text
    from asr.data.kaldi_dir import read_kv
    from asr.scoring import score

    refs = read_kv(args.ref, what="transcript")
    hyps = read_kv(args.hyp, allow_empty=True)
    report = score(refs, hyps, args.cer)
    utt2spk = read_kv(args.utt2spk, what="speaker") if args.utt2spk else None
    text = report.render(utt2spk)
    table = report.speaker_table(utt2spk) if utt2spk is not None else ""
    if args.out:
        atomic_write_text(args.out, text)
        print(report.summary())
        if table:
            print(table, end="")
    else:
        print(text, end="")
    return 0
