"""Confidence of CTC outputs from the model's posteriors alone (no extra model).

A frame's confidence is one of three measures of its posterior distribution p (V,):
``prob``, the highest posterior; ``entropy``, 1 - H(p) / log V (Gibbs entropy, 1 for a
one-hot p, 0 for a uniform one); ``tsallis``, the same with Tsallis' entropy of index
1/3, NeMo's recommended measure for CTC (Laptev and Ginsburg, 2023), which separates
confident from unsure frames better when V is large. A token takes the confidence of the
frame where its posterior peaks (its CTC spike), a word the lowest of its tokens'.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

Measure = Literal["prob", "entropy", "tsallis"]
MEASURES: tuple[Measure, ...] = ("prob", "entropy", "tsallis")
TSALLIS_ALPHA = 1.0 / 3.0


def frame_confidence(log_probs: torch.Tensor, measure: Measure = "prob") -> torch.Tensor:
    """Confidence in [0, 1] of each frame of log_probs (T, V) -> (T,)."""
    lp = log_probs.detach().double()
    v = lp.shape[-1]
    if measure == "prob":
        return lp.max(dim=-1).values.exp().clamp(0.0, 1.0)
    p = lp.exp()
    if measure == "entropy":
        h = -(p * lp).nan_to_num(0.0).sum(dim=-1)  # 0 * log 0 = 0
        return (1.0 - h / math.log(v)).clamp(0.0, 1.0)
    if measure == "tsallis":
        a = TSALLIS_ALPHA
        h = (1.0 - (a * lp).exp().sum(dim=-1)) / (a - 1.0)
        h_max = (v ** (1.0 - a) - 1.0) / (1.0 - a)
        return (1.0 - h / h_max).clamp(0.0, 1.0)
    raise ValueError(f"unknown confidence measure '{measure}' ({', '.join(MEASURES)})")
