"""Relative positions for Transformer-XL style attention: sinusoidal embeddings of
distances, and the shift that turns scores over distances into scores over keys."""

from __future__ import annotations

import math

import torch


def relative_positions(length: int, dim: int, device: torch.device,
                       queries: int | None = None) -> torch.Tensor:
    """Sinusoidal embeddings of relative distances T-1 ... -(Q-1): (T+Q-1, dim), for Q
    queries that are the last Q of T keys (Q = T by default: self-attention over T)."""
    queries = length if queries is None else queries
    pos = torch.arange(length - 1, -queries, -1, device=device, dtype=torch.float32)
    inv = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32)
                    * (-math.log(10000.0) / dim))
    emb = torch.zeros(length + queries - 1, dim, device=device)
    emb[:, 0::2] = torch.sin(pos[:, None] * inv)
    emb[:, 1::2] = torch.cos(pos[:, None] * inv)
    return emb


def rel_shift(x: torch.Tensor, keys: int | None = None) -> torch.Tensor:
    """(N, H, Q, K+Q-1) scores over distances K-1..-(Q-1) -> (N, H, Q, K) over keys j,
    entry (i, j) taken at distance (i + K - Q) - j: the Q queries are the last Q of the K
    keys (K = Q by default). Transformer-XL's pad-and-reshape trick."""
    n, h, t, p = x.shape
    keys = t if keys is None else keys
    x = torch.nn.functional.pad(x, (1, 0))  # (N, H, Q, K+Q)
    x = x.view(n, h, p + 1, t)[:, :, 1:].reshape(n, h, t, p)
    return x[..., :keys]
