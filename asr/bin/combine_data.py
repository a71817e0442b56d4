"""Combine Kaldi data dirs into one (utterance ids must be distinct across them)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dst", type=Path, metavar="DST_DIR", help="the combined data dir to write")
    p.add_argument("srcs", type=Path, nargs="+", metavar="SRC_DIR", help="the data dirs to combine")


def main(args: argparse.Namespace) -> int:
    from asr.data.copy_dirs import combine_data_dirs
    from asr.log_setup import setup_logging

    setup_logging()
    n = combine_data_dirs(args.dst, args.srcs)
    print(f"{args.dst}: {n} utterances from {len(args.srcs)} dirs")
    return 0
