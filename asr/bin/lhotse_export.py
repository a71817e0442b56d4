"""Write a Kaldi data dir from lhotse manifests (recordings and supervisions).

Writes wav.scp, text, utt2spk, spk2utt, utt2dur and, unless every supervision spans its
whole recording, segments.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("manifests", type=Path, metavar="MANIFEST_DIR")
    p.add_argument("out", type=Path, metavar="OUT_DIR")


def main(args: argparse.Namespace) -> int:
    from asr.data.lhotse_io import export_manifests

    n = export_manifests(args.manifests, args.out)
    print(f"{args.out}: {n} utterances from {args.manifests}")
    return 0
