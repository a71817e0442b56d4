"""Convert a Kaldi data dir into lhotse manifests (recordings, supervisions, cuts).

Writes OUT/{recordings,supervisions,cuts}.jsonl.gz: one cut per utterance, with the data
dir's ids, texts and speakers. With feats.scp, the features go (lossless) into OUT/feats
and are attached to the cuts, for data.source: lhotse with precomputed features.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.bin import add_no_pipes_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", type=Path, metavar="DATA_DIR", help="the Kaldi data dir to convert")
    p.add_argument("out", type=Path, metavar="OUT_DIR", help="where the manifests are written")
    add_no_pipes_argument(p)


def main(args: argparse.Namespace) -> int:
    from asr.data.lhotse_io import import_data_dir

    n = import_data_dir(args.data_dir, args.out, args.allow_pipes)
    print(f"{args.out}: {n} cuts from {args.data_dir}")
    return 0
