"""Copy a Kaldi data dir, optionally prefixing utterance and speaker ids."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", type=Path, metavar="SRC_DIR", help="the data dir to copy")
    p.add_argument("dst", type=Path, metavar="DST_DIR", help="the copy to write")
    p.add_argument("--utt-prefix", default="", help="prepended to every utterance id")
    p.add_argument("--spk-prefix", default="", help="prepended to every speaker id")


def main(args: argparse.Namespace) -> int:
    from asr.data.copy_dirs import copy_data_dir

    n = copy_data_dir(args.src, args.dst, args.utt_prefix, args.spk_prefix)
    print(f"{args.dst}: {n} utterances")
    return 0
