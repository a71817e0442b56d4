"""Accumulate CMVN stats of a data dir's features: global (cmvn.ark) or per speaker (cmvn.scp).

The stats are Kaldi 2 x (D+1) matrices, as compute-cmvn-stats writes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.bin import add_no_pipes_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dirs", nargs="+", type=Path, metavar="DATA_DIR",
                   help="data dirs with feats.scp")
    p.add_argument("--out", type=Path, help="stats file (default DATA_DIR/cmvn.ark; one dir)")
    p.add_argument("--per-speaker", action="store_true",
                   help="per-speaker stats into DATA_DIR/cmvn.scp (by utt2spk) instead")
    add_no_pipes_argument(p)


def main(args: argparse.Namespace) -> int:
    import logging

    from asr.data import cmvn_stats
    from asr.errors import AsrError
    from asr.log_setup import setup_logging

    setup_logging()
    if args.out and len(args.data_dirs) > 1:
        raise AsrError("--out takes a single DATA_DIR")
    for data_dir in args.data_dirs:
        if args.per_speaker:
            n = cmvn_stats.write_speaker_stats(data_dir, args.allow_pipes)
            logging.info("wrote %s: stats of %d speakers", data_dir / "cmvn.scp", n)
            continue
        stats = cmvn_stats.data_dir_stats(data_dir, args.allow_pipes)
        out = args.out or data_dir / "cmvn.ark"
        cmvn_stats.save_stats(out, stats)
        logging.info("wrote %s: %d frames, dim %d", out, int(stats[0, -1]), stats.shape[1] - 1)
    return 0
