"""Length bookkeeping for padded batches."""

from __future__ import annotations

import torch


def make_pad_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """(N,) lengths -> (N, T) bool mask, True at padded positions."""
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] >= lengths[:, None]


def reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(N, T, D): frames 0..len-1 of each utterance reversed; padding stays in place.

    Its own inverse; a forward-only LSTM run on the result is the backward direction of a
    BiLSTM, and never reads the padding, which follows each utterance's frames.
    """
    t = torch.arange(x.shape[1], device=x.device)[None, :]  # (1, T)
    idx = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # (N, T)
    return x.gather(1, idx[..., None].expand_as(x))
