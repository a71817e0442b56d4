"""The CTC model: frontend -> encoder -> CTC head."""

from __future__ import annotations

import torch
from torch import nn

from asr.nn.encoder import Encoder
from asr.nn.grad_filter import GradientFilter


class CTCModel(nn.Module):
    """feats (N, T, D), lengths (N,) -> log-probs (N, T', V), output lengths (N,).

    With ``interctc_layers`` the CTC head also reads those encoder layers' outputs
    (intermediate CTC); with ``self_conditioning`` a linear map of each one's posteriors
    is added to it before the next layer, in training and decoding alike.
    """

    def __init__(self, frontend: nn.Module, encoder: Encoder, head: nn.Module,
                 interctc_layers: tuple[int, ...] = (), self_conditioning: bool = False):
        super().__init__()
        self.frontend = frontend
        self.encoder = encoder
        self.head = head
        self.interctc_layers = tuple(interctc_layers)
        # one map shared by every intermediate layer, as in ESPnet's interctc conditioning
        self.condition = (nn.Linear(head.proj.out_features, head.proj.in_features)
                          if self_conditioning else None)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor,
                chunk_size: int | None = None, intermediate: list[torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``chunk_size`` (a Conformer's): 0 full context, C > 0 the C-frame chunk mask that
        chunked decoding reproduces; None: the encoder's own choice (dynamic chunks in
        training, full context in eval). ``intermediate``, a list, receives the log-probs
        (N, T', V) of each of ``interctc_layers`` (an argument, not a second return value,
        so that DistributedDataParallel's forward passes it through)."""
        x, lengths = self.frontend(feats, lengths)
        kwargs = {} if chunk_size is None else {"chunk_size": chunk_size}
        if self.interctc_layers:
            def after_layer(k: int, h: torch.Tensor) -> torch.Tensor:
                if k not in self.interctc_layers:
                    return h
                log_probs = self.head(h)
                if intermediate is not None:
                    intermediate.append(log_probs)
                return h if self.condition is None else h + self.condition(log_probs.exp())

            kwargs["after_layer"] = after_layer
        x, lengths = self.encoder(x, lengths, **kwargs)
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
