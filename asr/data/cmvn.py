"""CMVN stats in Kaldi's format and their application.

Stats are a 2 x (D+1) float64 matrix: row 0 holds the per-dimension sums and the frame
count in the last column, row 1 the sums of squares (last column 0). A cmvn.ark written
by Kaldi's ``compute-cmvn-stats`` loads the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import kaldiio
import numpy as np
import torch

from asr.errors import DataError
from asr.utils import atomic_write


def accumulate(feats: Iterable[np.ndarray]) -> np.ndarray:
    stats: np.ndarray | None = None
    for m in feats:
        m = np.asarray(m, dtype=np.float64)
        if stats is None:
            stats = np.zeros((2, m.shape[1] + 1), dtype=np.float64)
        stats[0, :-1] += m.sum(axis=0)
        stats[1, :-1] += (m * m).sum(axis=0)
        stats[0, -1] += m.shape[0]
    if stats is None:
        raise DataError("no features to accumulate CMVN stats from")
    return stats


def save_stats(path: Path, stats: np.ndarray) -> None:
    atomic_write(Path(path), lambda f: kaldiio.save_mat(f, stats))


def load_stats(path: Path) -> np.ndarray:
    try:
        stats = np.asarray(kaldiio.load_mat(str(path)), dtype=np.float64)
    except Exception as e:
        raise DataError(f"{path}: not a readable Kaldi CMVN stats matrix: {e}") from None
    if stats.ndim != 2 or stats.shape[0] != 2 or stats.shape[1] < 2 or stats[0, -1] < 1:
        raise DataError(f"{path}: expected a 2 x (D+1) CMVN stats matrix with a positive count, "
                        f"got shape {stats.shape}")
    return stats


class GlobalCmvn:
    """Normalize with fixed stats: (x - mean) / std, std floored to avoid blowing up."""

    def __init__(self, stats: np.ndarray, norm_vars: bool = True, var_floor: float = 1e-10):
        count = stats[0, -1]
        mean = stats[0, :-1] / count
        var = np.maximum(stats[1, :-1] / count - mean * mean, var_floor)
        self.dim = mean.shape[0]
        self.mean = torch.tensor(mean, dtype=torch.float32)
        self.inv_std = torch.tensor(1.0 / np.sqrt(var) if norm_vars else np.ones_like(var),
                                    dtype=torch.float32)

    def __call__(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats - self.mean) * self.inv_std


class UtteranceCmvn:
    """Normalize each utterance by its own mean (and std): speaker and channel agnostic."""

    def __init__(self, norm_vars: bool = True, var_floor: float = 1e-10):
        self.norm_vars = norm_vars
        self.var_floor = var_floor

    def __call__(self, feats: torch.Tensor) -> torch.Tensor:
        out = feats - feats.mean(dim=0, keepdim=True)
        if self.norm_vars and feats.shape[0] > 1:
            var = out.var(dim=0, unbiased=False, keepdim=True)
            out = out * var.clamp_min(self.var_floor).rsqrt()
        return out
