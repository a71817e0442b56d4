"""Copy part of a Kaldi data dir: listed utterances, the first N, or some speakers."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", type=Path, metavar="SRC_DIR", help="the data dir to take from")
    p.add_argument("dst", type=Path, metavar="DST_DIR", help="the subset to write")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--utt-list", type=Path, help="file with one utterance id per line")
    g.add_argument("--first", type=int, help="the first N utterances in sorted order")
    g.add_argument("--speakers", nargs="+", help="all utterances of these speakers")


def main(args: argparse.Namespace) -> int:
    from asr.data.copy_dirs import subset_data_dir

    n = subset_data_dir(args.src, args.dst, args.utt_list, args.first, args.speakers)
    print(f"{args.dst}: {n} utterances from {args.src}")
    return 0
