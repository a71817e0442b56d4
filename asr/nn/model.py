"""The CTC model: frontend -> encoder -> CTC head."""

from __future__ import annotations

import torch
from torch import nn

from asr.nn.grad_filter import GradientFilter


class CTCModel(nn.Module):
    """feats (N, T, D), lengths (N,) -> log-probs (N, T', V), output lengths (N,)."""

    def __init__(self, frontend: nn.Module, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.frontend = frontend
        self.encoder = encoder
        self.head = head

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor,
                chunk_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``chunk_size`` (a Conformer's): 0 full context, C > 0 the C-frame chunk mask that
        chunked decoding reproduces; None: the encoder's own choice (dynamic chunks in
        training, full context in eval)."""
        x, lengths = self.frontend(feats, lengths)
        if chunk_size is None:
            x, lengths = self.encoder(x, lengths)
        else:
            x, lengths = self.encoder(x, lengths, chunk_size=chunk_size)
        return self.head(x), lengths

    def output_length(self, num_frames: int) -> int:
        """Exact number of output frames for an input of ``num_frames`` frames."""
        return self.frontend.output_length(num_frames)

    def grad_filter_stats(self) -> tuple[int, int]:
        """(sequences scaled > 2x, sequences seen) over all GradientFilters since last call."""
        scaled = seen = 0
        for m in self.modules():
            if isinstance(m, GradientFilter):
                a, b = m.pop_stats()
                scaled, seen = scaled + a, seen + b
        return scaled, seen

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
