"""Train a CTC model from a YAML config; resumes from the newest checkpoint in --exp-dir.

Overrides follow the options as dotted keys: asr train --config c.yaml ... optim.lr=2e-3
model.encoder.num_layers=2. The resolved config is written to EXP_DIR/config.yaml.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--train-dir", type=Path, required=True, help="data dir with feats.scp, text")
    p.add_argument("--dev-dir", type=Path, required=True)
    p.add_argument("--lang-dir", type=Path, required=True, help="from 'asr tokenizer'")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE")


def main(args: argparse.Namespace) -> int:
    from asr.config import load_config
    from asr.schema import ExperimentConfig
    from asr.train.loop import run
    from asr.utils import setup_logging

    cfg = load_config(ExperimentConfig, args.config, args.overrides)
    setup_logging(args.exp_dir / "log" / "train.log")
    run(cfg, args.exp_dir, args.train_dir, args.dev_dir, args.lang_dir)
    return 0
