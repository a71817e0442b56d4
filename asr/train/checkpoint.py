"""Checkpoints: one file each, written to a temp file, fsynced, renamed.

A checkpoint is a single file, so the rename is its commit: a kill at any moment leaves
the previous file set intact and at most a ``.*.tmp`` file (removed at the next start).
Two kinds live in ``checkpoints/``: ``epoch-E.pt`` at each epoch end and
``checkpoint-S.pt`` every N optimizer steps (or at preemption). Their order is the
training progress they hold, (epoch, batches done), read from the file itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from asr.errors import AsrError, CheckpointError
from asr.exp.checkpoint_file import load_checkpoint, save_checkpoint
from asr.exp.layout import EPOCH_RE, epoch_checkpoints, step_checkpoints

__all__ = ["CheckpointInfo", "average_state_dicts", "best_epochs", "epoch_checkpoints",
           "exists", "infos_by_progress", "latest_valid", "load_checkpoint", "prune",
           "read_info", "remove_temp_files", "save_checkpoint", "select_for_average",
           "step_checkpoints", "write_average", "write_final_average"]

log = logging.getLogger(__name__)


def remove_temp_files(ckpt_dir: Path) -> None:
    """Temp files of saves that a kill interrupted: never loadable, only taking space."""
    if Path(ckpt_dir).is_dir():
        for p in Path(ckpt_dir).glob(".*.tmp"):
            p.unlink(missing_ok=True)


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint's metadata says, read without loading (or verifying) its tensors."""

    path: Path
    progress: tuple[int, int]  # (epoch in progress, batches of it done)
    dev_loss: float | None  # set in epoch-end checkpoints


def read_info(path: Path) -> CheckpointInfo:
    """The progress and dev loss of ``path``, memory-mapped: no tensor is read."""
    meta = load_checkpoint(path, mmap=True, verify=False)
    try:
        ts = meta["train_state"]
        return CheckpointInfo(path, (ts["epoch"], ts["batches_done"]), meta.get("dev_loss"))
    except (KeyError, TypeError):
        raise CheckpointError(f"{path}: not a training checkpoint (no train_state)") from None


def _read_infos(paths: list[Path]) -> list[CheckpointInfo]:
    infos = []
    for path in paths:
        try:
            infos.append(read_info(path))
        except CheckpointError as e:  # truncated, garbage or foreign: not a resume candidate
            log.warning("skipping checkpoint %s", e)  # e names the file
    return infos


def infos_by_progress(ckpt_dir: Path) -> list[CheckpointInfo]:
    """Every checkpoint whose metadata reads, oldest progress first; others are warned of."""
    found = _read_infos([p for _, p in epoch_checkpoints(ckpt_dir) + step_checkpoints(ckpt_dir)])
    # an epoch-end file sorts after a step file at the same progress (it holds dev_loss)
    return sorted(found, key=lambda f: (f.progress, EPOCH_RE.match(f.path.name) is not None))


def exists(ckpt_dir: Path) -> bool:
    """Whether ``ckpt_dir`` holds any checkpoint file (a listing, nothing is read)."""
    return bool(epoch_checkpoints(ckpt_dir) or step_checkpoints(ckpt_dir))


def latest_valid(ckpt_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that loads whole and verifies (checksum, finite parameters);
    a corrupt or unsafe newer one is skipped with a warning naming it."""
    for info in reversed(infos_by_progress(ckpt_dir)):
        try:
            return info.path, load_checkpoint(info.path)
        except CheckpointError as e:
            log.warning("skipping checkpoint %s; trying the previous one", e)
    return None


def prune(ckpt_dir: Path, keep_last: int, keep_best: int, keep_last_steps: int,
          protect: Path | None = None) -> None:
    """Keep the last ``keep_last`` epoch checkpoints, the ``keep_best`` of lowest dev loss,
    the last ``keep_last_steps`` step checkpoints and ``protect`` (the file just written: a
    preemption checkpoint must survive ``keep_last_steps: 0``); delete the others."""
    epochs = epoch_checkpoints(ckpt_dir)
    keep = {p for _, p in epochs[-keep_last:]}
    if protect is not None:
        keep.add(Path(protect))
    keep |= {f.path for f in best_epochs(ckpt_dir, keep_best)}
    steps = step_checkpoints(ckpt_dir)
    keep |= {p for _, p in steps[len(steps) - keep_last_steps:]} if keep_last_steps else set()
    for _, path in epochs + steps:
        if path not in keep:
            path.unlink(missing_ok=True)


def best_epochs(ckpt_dir: Path, n: int) -> list[CheckpointInfo]:
    """The ``n`` epoch checkpoints of lowest dev loss, in epoch order."""
    if n <= 0:
        return []
    scored = [f for f in _read_infos([p for _, p in epoch_checkpoints(ckpt_dir)])
              if f.dev_loss is not None]
    best = sorted(scored, key=lambda f: f.dev_loss)[:n]
    return sorted(best, key=lambda f: f.progress)


def select_for_average(ckpt_dir: Path, last: int = 0, best: int = 0) -> list[Path]:
    """Epoch checkpoints to average: the last ``last`` ones, or the ``best`` by dev loss."""
    if (last > 0) == (best > 0):
        raise AsrError("give exactly one of --last N or --best N (N >= 1)")
    if last:
        paths = [p for _, p in epoch_checkpoints(ckpt_dir)][-last:]
        n = last
    else:
        paths = [f.path for f in best_epochs(ckpt_dir, best)]
        n = best
    if len(paths) < n:
        raise AsrError(f"{ckpt_dir}: asked to average {n} epoch checkpoints, found "
                       f"{len(paths)}; raise train.keep_last / train.keep_best to keep more")
    return paths


def average_state_dicts(paths: list[Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean of the models in ``paths`` (integer buffers taken from the last)."""
    return _average(paths, skip_unreadable=False)[0]


def _average(paths: list[Path], skip_unreadable: bool
             ) -> tuple[dict[str, torch.Tensor], list[Path]]:
    """The mean of the models in ``paths`` and the paths it is the mean of: with
    ``skip_unreadable`` a file that does not load and verify is warned of and left out."""
    avg: dict[str, torch.Tensor] = {}
    used = []
    for path in paths:
        try:
            sd = load_checkpoint(path)["model"]
        except CheckpointError as e:
            if not skip_unreadable:
                raise
            log.warning("not averaging %s", e)  # e names the file
            continue
        used.append(path)
        for k, v in sd.items():
            if v.is_floating_point():
                avg[k] = avg[k] + v.double() if k in avg else v.double()
            else:
                avg[k] = v.clone()
    return ({k: (v / len(used)).float() if v.is_floating_point() else v
             for k, v in avg.items()}, used)


def write_average(out: Path, paths: list[Path]) -> None:
    """An averaged model file in the layout ``asr decode --checkpoint`` reads."""
    save_checkpoint(out, {"model": average_state_dicts(paths), "averaged": [p.name for p in paths]})
    log.info("wrote %s (average of %s)", out, ", ".join(p.name for p in paths))


def write_final_average(out: Path, ckpt_dir: Path, last_epoch: int, last: int,
                        fallback: dict[str, torch.Tensor]) -> list[Path]:
    """``out`` (final.pt) as the average of epochs ``last_epoch - last + 1 .. last_epoch``,
    never failing for want of them. The config guarantees that many are made and kept
    (train.average_last <= epochs and keep_last), so a missing or unreadable one was deleted
    or lost to a resume, which only the end of the run can know: the others are averaged,
    with a warning; with none left, ``fallback`` (the model in memory, the last epoch's) is
    written. Returns the checkpoints averaged."""
    wanted = range(max(1, last_epoch - last + 1), last_epoch + 1)
    on_disk = dict(epoch_checkpoints(ckpt_dir))
    avg, used = _average([on_disk[e] for e in wanted if e in on_disk], skip_unreadable=True)
    if len(used) < len(wanted):
        log.warning("train.average_last is %d, but of epoch-%d.pt .. epoch-%d.pt %s holds %s "
                    "readable: %s averages %s", last, wanted[0], wanted[-1], ckpt_dir,
                    ", ".join(p.name for p in used) or "none", out.name,
                    "those" if used else "the model in memory (the last epoch's) alone")
    if not used:
        avg = {k: v.detach().cpu().clone() for k, v in fallback.items()}
    save_checkpoint(out, {"model": avg, "averaged": [p.name for p in used]})
    log.info("wrote %s (average of %s)", out,
             ", ".join(p.name for p in used) or "none: the model in memory")
    return used
