"""CTC head (linear + log_softmax, once) and the CTC loss that reports infeasible utterances."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CTCHead(nn.Module):
    def __init__(self, input_dim: int, vocab_size: int):
        super().__init__()
        self.proj = nn.Linear(input_dim, vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.proj(x), dim=-1)


def min_input_lengths(targets: torch.Tensor, target_lens: torch.Tensor) -> torch.Tensor:
    """Batched :func:`asr.functional.ctc_min_input_length` over (N, L) zero-padded targets."""
    if targets.shape[1] < 2:
        return target_lens.clone()
    valid = torch.arange(1, targets.shape[1], device=targets.device)[None] < target_lens[:, None]
    repeats = ((targets[:, 1:] == targets[:, :-1]) & valid).sum(dim=1)
    return target_lens + repeats


def ctc_loss(log_probs: torch.Tensor, out_lens: torch.Tensor, targets: torch.Tensor,
             target_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed CTC loss over the batch, and how many utterances were zeroed as infeasible.

    log_probs (N, T, V) with blank 0; infeasible utterances (too few frames for their
    targets) contribute 0 instead of inf (``zero_infinity``) and are counted. Both are
    0-dim tensors on the device: reading them is the caller's choice of when to wait.
    """
    zeroed = (out_lens < min_input_lengths(targets, target_lens)).sum()
    loss = F.ctc_loss(log_probs.transpose(0, 1), targets, out_lens, target_lens,  # (T, N, V)
                      blank=0, reduction="sum", zero_infinity=True)
    return loss, zeroed
