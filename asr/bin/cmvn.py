"""Accumulate global CMVN stats of a data dir's features into DATA_DIR/cmvn.ark.

The stats are a Kaldi 2 x (D+1) matrix, as compute-cmvn-stats writes.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", type=Path, metavar="DATA_DIR")
    p.add_argument("--out", type=Path, help="stats file (default DATA_DIR/cmvn.ark)")


def main(args: argparse.Namespace) -> int:
    import logging

    from asr.data import cmvn
    from asr.data.dataset import Utterance, read_matrix
    from asr.data.kaldi_dir import DataDir
    from asr.utils import setup_logging

    setup_logging()
    d = DataDir.load(args.data_dir)
    d.require("feats.scp")
    assert d.feats_scp is not None
    stats = cmvn.accumulate(read_matrix(Utterance(u, rx, -1, "", ())) for u, rx in
                            d.feats_scp.items())
    out = args.out or args.data_dir / "cmvn.ark"
    cmvn.save_stats(out, stats)
    logging.info("wrote %s: %d frames, dim %d", out, int(stats[0, -1]), stats.shape[1] - 1)
    return 0
