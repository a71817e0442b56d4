"""Every RNG the training loop draws from: one seeding policy, captured and restored whole.

The policy, in one place: the sampler draws from ``(seed, epoch)`` (asr.data.sampler),
data augmentation from ``(seed, epoch, utterance)`` (asr.data.augment), the DataLoader's
own generator (worker seeds) from :func:`epoch_seed`, and dropout from
:func:`dropout_seed`, which also separates the DDP ranks.

States are stored as tensors and plain values so checkpoints load with
``torch.load(weights_only=True)``: numpy's key array becomes an int64 tensor.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

# a prime stride keeps (seed, epoch) pairs apart for any realistic number of epochs
_EPOCH_STRIDE = 100_003
# room for 1000 ranks (and resume offsets) between consecutive epoch seeds
_RANK_STRIDE = 1000


def seed_everything(seed: int) -> None:
    """The global python, numpy and torch RNGs, for model initialization."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """The DataLoader generator's seed for ``epoch``: the same fresh or resumed."""
    return seed * _EPOCH_STRIDE + epoch


def dropout_seed(seed: int, epoch: int, rank: int, offset: int = 0) -> int:
    """The torch RNG's seed at the start of ``epoch`` on ``rank``; ``offset`` (the batches
    done) separates a resume whose saved RNG states cannot be used (another world size)."""
    return epoch_seed(seed, epoch) * _RANK_STRIDE + rank + offset


def rng_state(loader_generator: torch.Generator | None = None) -> dict[str, Any]:
    """python, numpy, torch CPU, every CUDA device and the DataLoader's own generator."""
    name, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"name": str(name), "keys": torch.from_numpy(keys.astype(np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached_gaussian": float(cached_gaussian)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loader": loader_generator.get_state() if loader_generator is not None else None,
    }


def set_rng_state(state: dict[str, Any], loader_generator: torch.Generator | None = None) -> None:
    """Restore what :func:`rng_state` captured."""
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if loader_generator is not None and state["loader"] is not None:
        loader_generator.set_state(state["loader"])

