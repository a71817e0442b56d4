"""Average epoch checkpoints into one model file that `asr decode --checkpoint` reads.

--last N takes the newest N epoch-E.pt files; --best N the N of lowest dev loss (kept
beside the last ones by train.keep_best). Writes EXP_DIR/avg-last-N.pt or avg-best-N.pt
unless --out is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exp-dir", type=Path, required=True,
                   help="the experiment whose checkpoints/epoch-N.pt are averaged")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--last", type=int, default=0, metavar="N",
                       help="average the last N epoch checkpoints")
    which.add_argument("--best", type=int, default=0, metavar="N",
                       help="average the N epoch checkpoints of lowest dev loss")
    p.add_argument("--out", type=Path, help="output file (default: in the exp dir)")


def main(args: argparse.Namespace) -> int:
    from asr.exp import layout
    from asr.log_setup import setup_logging
    from asr.train import checkpoint as ckpt

    setup_logging()
    paths = ckpt.select_for_average(args.exp_dir / layout.CKPT_DIR, args.last, args.best)
    out = args.out or args.exp_dir / (f"avg-last-{args.last}.pt" if args.last
                                      else f"avg-best-{args.best}.pt")
    ckpt.write_average(out, paths)
    print(out)
    return 0
