"""Frontends: map (N, T, D) features to (N, T', D') with T' = output_length(T) exactly."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from asr.config.schema import Conv2dFrontendConfig, StackFrontendConfig


class StackFrontend(nn.Module):
    """Concatenate ``stack`` consecutive frames: T' = ceil(T / stack), D' = D * stack.

    The last group is zero-padded, as the batch padding is, so results do not depend on
    how much padding follows an utterance.
    """

    def __init__(self, input_dim: int, cfg: StackFrontendConfig):
        super().__init__()
        if cfg.stack < 1:
            raise ValueError(f"frontend.stack must be >= 1, got {cfg.stack}")
        self.stack = cfg.stack
        self.output_dim = input_dim * cfg.stack

    def output_length(self, num_frames: int) -> int:
        return -(-num_frames // self.stack)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return torch.div(lengths + self.stack - 1, self.stack, rounding_mode="floor")

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, t, d = x.shape
        pad = (-t) % self.stack
        x = F.pad(x, (0, 0, 0, pad))
        # (N, T, D) -> (N, T/stack, stack*D): frames of a group side by side
        return x.reshape(n, (t + pad) // self.stack, self.stack * d), self.output_lengths(lengths)


class Conv2dFrontend(nn.Module):
    """Valid (unpadded in time) stride-2/3 convolutions over (time, freq), then a linear.

    Without time padding, output frame i sees only input frames of its own utterance, so
    padding never changes the valid outputs.
    """

    _LAYERS = {4: ((3, 2), (3, 2)), 6: ((3, 2), (5, 3)), 8: ((3, 2), (3, 2), (3, 2))}

    def __init__(self, input_dim: int, cfg: Conv2dFrontendConfig):
        super().__init__()
        self.layers_spec = self._LAYERS[cfg.subsampling]
        convs: list[nn.Module] = []
        channels, freq = 1, input_dim
        for kernel, stride in self.layers_spec:
            convs += [nn.Conv2d(channels, cfg.channels, kernel, stride), nn.ReLU()]
            channels = cfg.channels
            freq = (freq - kernel) // stride + 1
        if freq < 1:
            raise ValueError(f"{input_dim} feature dims are too few for {cfg.subsampling}x "
                             "conv2d subsampling")
        self.conv = nn.Sequential(*convs)
        self.out = nn.Linear(cfg.channels * freq, cfg.output_dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.output_dim = cfg.output_dim
        self.min_frames = next(t for t in range(1, 100) if self.output_length(t) >= 1)

    def output_length(self, num_frames: int) -> int:
        for kernel, stride in self.layers_spec:
            num_frames = max(0, (num_frames - kernel) // stride + 1)
        return num_frames

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        for kernel, stride in self.layers_spec:
            lengths = torch.clamp(torch.div(lengths - kernel, stride, rounding_mode="floor") + 1,
                                  min=0)
        return lengths

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[1] < self.min_frames:  # too short for the kernels: pad, output length 0
            x = F.pad(x, (0, 0, 0, self.min_frames - x.shape[1]))
        y = self.conv(x.unsqueeze(1))  # (N, 1, T, D) -> (N, C, T', D')
        n, c, t, f = y.shape
        y = y.transpose(1, 2).reshape(n, t, c * f)  # (N, T', C*D'): channels x freq per frame
        return self.dropout(self.out(y)), self.output_lengths(lengths)
