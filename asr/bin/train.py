"""Train a CTC model from a YAML config; resumes from the newest checkpoint in --exp-dir.

Overrides follow the options as dotted keys: asr train --config c.yaml ... optim.lr=2e-3
model.encoder.num_layers=2. The resolved config is written to EXP_DIR/config.yaml.
Under torchrun every rank runs this same command (DDP). On SIGTERM or SIGUSR1 the run
saves a checkpoint at the next step boundary and exits with code 75 (requeue me).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, required=True,
                   help="the experiment YAML (may extend others)")
    p.add_argument("--exp-dir", type=Path, required=True,
                   help="where checkpoints, logs and final.pt go; resumed when it has them")
    p.add_argument("--train-dir", type=Path, required=True, help="data dir with feats.scp, text")
    p.add_argument("--dev-dir", type=Path, required=True,
                   help="the dev data dir: loss and greedy %%WER after each epoch")
    p.add_argument("--lang-dir", type=Path, required=True, help="from 'asr tokenizer'")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="config values over the YAML's, e.g. train.epochs=20")


def main(args: argparse.Namespace) -> int:
    from asr.config import load_config
    from asr.config.schema import ExperimentConfig
    from asr.log_setup import setup_logging
    from asr.train.runner import run

    cfg = load_config(ExperimentConfig, args.config, args.overrides)
    rank = int(os.environ.get("RANK", "0"))
    if rank == 0:
        setup_logging(args.exp_dir / "log" / "train.log")
    else:  # other ranks keep a file of their own and only warn on the console
        setup_logging(args.exp_dir / "log" / f"train.rank{rank}.log")
        logging.getLogger().handlers[0].setLevel(logging.WARNING)
    return run(cfg, args.exp_dir, args.train_dir, args.dev_dir, args.lang_dir,
               shlex.join(["asr", *args.argv]))
