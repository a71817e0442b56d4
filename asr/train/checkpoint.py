"""Atomic checkpoints: written to a temp file, fsynced, renamed; loads verify integrity."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch

from asr.utils import atomic_write

log = logging.getLogger(__name__)
_EPOCH_RE = re.compile(r"^epoch-(\d+)\.pt$")


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    atomic_write(Path(path), lambda f: torch.save(payload, f))


def load_checkpoint(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=False)


def epoch_checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    """(epoch, path) of epoch-N.pt files, oldest first."""
    found = []
    if Path(ckpt_dir).is_dir():
        for p in Path(ckpt_dir).iterdir():
            m = _EPOCH_RE.match(p.name)
            if m:
                found.append((int(m.group(1)), p))
    return sorted(found)


def latest_valid(ckpt_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that loads; a corrupt newer one is skipped with a warning."""
    for _, path in reversed(epoch_checkpoints(ckpt_dir)):
        try:
            return path, load_checkpoint(path)
        except Exception as e:  # a truncated or foreign file: fall back to the previous one
            log.warning("checkpoint %s is unreadable (%s); trying the previous one", path, e)
    return None


def prune(ckpt_dir: Path, keep_last: int) -> None:
    for _, path in epoch_checkpoints(ckpt_dir)[:-keep_last or None]:
        path.unlink(missing_ok=True)


def average_state_dicts(paths: list[Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean of the models in ``paths`` (integer buffers taken from the last)."""
    avg: dict[str, torch.Tensor] = {}
    for path in paths:
        sd = load_checkpoint(path)["model"]
        for k, v in sd.items():
            if v.is_floating_point():
                avg[k] = avg[k] + v.double() if k in avg else v.double()
            else:
                avg[k] = v.clone()
    return {k: (v / len(paths)).float() if v.is_floating_point() else v for k, v in avg.items()}
