"""Where things live in an experiment dir, and the names of its checkpoint files.

A leaf module (it imports nothing of ours), so the data, training and decoding layers can
all name the same files without importing each other.
"""

from __future__ import annotations

import re
from pathlib import Path

CONFIG = "config.yaml"  # the fully resolved training config, with its run: section
CMVN = "cmvn.ark"  # global CMVN stats of the training data
LANG = "lang"  # tokens.txt (and sp.model)
CKPT_DIR = "checkpoints"  # epoch-E.pt and checkpoint-S.pt
FINAL = "final.pt"  # the averaged model that decoding uses by default
LOG_DIR = "log"
TENSORBOARD_DIR = "tensorboard"

EPOCH_RE = re.compile(r"^epoch-(\d+)\.pt$")
STEP_RE = re.compile(r"^checkpoint-(\d+)\.pt$")


def epoch_checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    """(epoch, path) of epoch-E.pt files, oldest first (a listing: nothing is read)."""
    return _numbered(ckpt_dir, EPOCH_RE)


def step_checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    """(step, path) of checkpoint-S.pt files, oldest first (a listing: nothing is read)."""
    return _numbered(ckpt_dir, STEP_RE)


def _numbered(ckpt_dir: Path, pattern: re.Pattern) -> list[tuple[int, Path]]:
    found = []
    if Path(ckpt_dir).is_dir():
        for p in Path(ckpt_dir).iterdir():
            m = pattern.match(p.name)
            if m:
                found.append((int(m.group(1)), p))
    return sorted(found)
