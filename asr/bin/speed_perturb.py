"""Speed-perturb a data dir (Kaldi's sp0.9-/sp1.1- copies) into a new data dir.

Writes perturbed wav files under DST/wav and DST/{wav.scp,text,utt2spk,spk2utt}.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.bin import add_no_pipes_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--factors", default="0.9,1.0,1.1", help="comma-separated speed factors")
    p.add_argument("src", type=Path, metavar="SRC_DIR", help="the data dir to perturb")
    p.add_argument("dst", type=Path, metavar="DST_DIR", help="the perturbed data dir to write")
    add_no_pipes_argument(p)


def main(args: argparse.Namespace) -> int:
    from asr.data.perturb import perturb_data_dir
    from asr.errors import AsrError
    from asr.log_setup import setup_logging

    setup_logging()
    try:
        factors = [float(f) for f in args.factors.split(",")]
    except ValueError:
        raise AsrError(f"--factors: expected numbers like 0.9,1.0,1.1, got '{args.factors}'") \
            from None
    perturb_data_dir(args.src, args.dst, factors, args.allow_pipes)
    return 0
