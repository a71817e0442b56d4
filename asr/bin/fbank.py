"""Compute Kaldi-compatible fbank features of data dirs into feats.ark/feats.scp.

Writes DATA_DIR/feats.scp, utt2num_frames, utt2dur and feats.yaml (the exact options
used). --nj N runs N processes over N splits; a killed run resumes, redoing only the
unfinished splits. A data dir whose feats.scp exists and whose feats.yaml matches is
skipped unless --force. --on-the-fly writes only feats.yaml, utt2num_frames and utt2dur,
for training with data.features: on_the_fly.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from asr.bin import add_no_pipes_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="fbank YAML (FbankConfig); defaults otherwise")
    p.add_argument("--feats-dir", type=Path, help="where arks go (default DATA_DIR/data)")
    p.add_argument("--nj", type=int, default=1, help="parallel jobs (processes)")
    p.add_argument("--compress", type=int, nargs="?", const=2, default=None, metavar="METHOD",
                   help="write Kaldi-compressed arks (kaldiio compression_method; "
                        "default 2 = kSpeechFeature, as Kaldi's --compress=true)")
    p.add_argument("--on-the-fly", action="store_true",
                   help="no arks: only feats.yaml, utt2num_frames, utt2dur")
    p.add_argument("--force", action="store_true", help="recompute even if complete")
    p.add_argument("--allow-resample", action="store_true",
                   help="resample audio at another rate instead of failing")
    add_no_pipes_argument(p)
    p.add_argument("data_dirs", nargs="+", type=Path, metavar="DATA_DIR",
                   help="data dirs with wav.scp; features are written into each")
    p.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE",
                   help="config overrides, e.g. --set num_mel_bins=40")


def main(args: argparse.Namespace) -> int:
    from asr.config import load_config
    from asr.config.schema import FbankConfig
    from asr.data.features import read_feats_config, write_data_dir_feats
    from asr.errors import AsrError
    from asr.log_setup import setup_logging

    setup_logging()
    cfg = load_config(FbankConfig, args.config, args.overrides)
    for d in args.data_dirs:
        done = (d / "utt2num_frames") if args.on_the_fly else (d / "feats.scp")
        if not args.force and done.is_file():
            try:
                same = read_feats_config(d) == cfg
            except AsrError:
                same = False
            if same:
                logging.info("%s: features complete, skipping", d)
                continue
        feats_dir = args.feats_dir / d.name if args.feats_dir else None
        write_data_dir_feats(d, cfg, feats_dir, args.allow_resample, args.nj, args.compress,
                             write_feats=not args.on_the_fly, force=args.force,
                             allow_pipes=args.allow_pipes)
    return 0
