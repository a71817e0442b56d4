"""Where a run starts and how it resumes: what a training checkpoint holds, how a trainer
is restored from one, and the choice between the newest valid checkpoint, the model file
of ``train.init_from`` (a new run only) and random parameters."""

from __future__ import annotations

import logging
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

import asr
from asr.config import config_hash
from asr.errors import AsrError, CheckpointError
from asr.exp.checkpoint_file import load_checkpoint
from asr.nn.model import CTCModel
from asr.train import checkpoint as ckpt
from asr.train.rng import dropout_seed, rng_state, set_rng_state

if TYPE_CHECKING:
    from asr.train.loop import Trainer

log = logging.getLogger(__name__)


def training_payload(trainer: Trainer, dev_loss: float | None) -> dict[str, Any] | None:
    """The checkpoint of where ``trainer`` stands, on rank 0 (None on the others); every
    rank must call it, as it gathers each rank's RNG state."""
    rngs = trainer.dist.gather(rng_state(trainer.loader_generator))
    if not trainer.dist.is_main:
        return None
    state = trainer.state
    return {
        "model": trainer.core.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(),
        "scaler": trainer.scaler.state_dict(),
        "sampler": trainer.sampler.state_dict(state.epoch, state.batches_done),
        "train_state": state.state_dict(),
        "rng": rngs,
        "dev_loss": dev_loss,
        "config_hash": config_hash(trainer.cfg.model),
        "versions": {"asr": asr.__version__, "torch": str(torch.__version__),
                     "numpy": np.__version__, "python": platform.python_version()},
    }


def restore_training(trainer: Trainer, payload: dict[str, Any]) -> None:
    """Put ``trainer`` where the checkpoint ``payload`` stood, RNGs included; another rank
    count remaps the sampler's position and reseeds dropout from it."""
    if payload.get("config_hash") != config_hash(trainer.cfg.model):
        raise AsrError(f"{trainer.exp}: the checkpoint was made with another model "
                       "architecture; use a new --exp-dir")
    trainer.core.load_state_dict(payload["model"])
    trainer.optimizer.load_state_dict(payload["optimizer"])
    trainer.scheduler.load_state_dict(payload["scheduler"])
    trainer.scaler.load_state_dict(payload["scaler"])
    state, dist = trainer.state, trainer.dist
    state.load_state_dict(payload["train_state"])
    trainer.sampler.load_state_dict(payload["sampler"])
    state.batches_done = trainer.sampler.start  # remapped if the world size changed
    rngs = payload["rng"]
    if len(rngs) == dist.world_size:
        set_rng_state(rngs[dist.rank], trainer.loader_generator)
    else:
        torch.manual_seed(dropout_seed(trainer.cfg.train.seed, state.epoch, dist.rank,
                                       state.batches_done))


def resume_or_init(trainer: Trainer) -> None:
    """Resume from the exp's newest valid checkpoint; without one, a new run starts from
    ``train.init_from`` when given (else the random init stands)."""
    init_from = trainer.cfg.train.init_from
    found = ckpt.latest_valid(trainer.ckpt_dir)
    if found is not None:
        restore_training(trainer, found[1])
        state = trainer.state
        log.info("resumed from %s at epoch %d batch %d (step %d)%s", found[0], state.epoch,
                 state.batches_done, state.step,
                 f"; train.init_from ({init_from}) starts a new run only: not applied again"
                 if init_from else "")
    elif init_from:
        init_parameters(trainer.core, Path(init_from))


def init_parameters(model: CTCModel, path: Path) -> None:
    """Copy into ``model`` the parameters and buffers of the model file ``path`` that have
    the same name and shape (loaded without running code); the rest keep their random
    init; the encoder adopts another encoder's tensors under its own names (a BiLSTM's
    layers go to a latency-controlled BiLSTM's two directions). Both lists
    are logged; a file that gives nothing is an error."""
    try:
        payload = load_checkpoint(path, require_checksum=False)
    except CheckpointError as e:
        raise AsrError(f"train.init_from: {e}") from None
    source = payload.get("model")
    if not isinstance(source, dict):
        raise AsrError(f"train.init_from: {path}: not a model file (no 'model' state dict)")
    own = model.state_dict()
    source = {**source, **model.encoder.adopt_weights(source)}  # another encoder's names
    taken = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    if not taken:
        raise AsrError(f"train.init_from: {path}: no parameter of this model has the same name "
                       "and shape there")
    model.load_state_dict(taken, strict=False)
    left = sorted(k for k in own if k not in taken)
    log.info("initialized %d of %d tensors from %s; random: %s", len(taken), len(own), path,
             ", ".join(left) if left else "none")
