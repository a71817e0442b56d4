"""Frontends: map (N, T, D) features to (N, T', D') with T' = output_length(T) exactly.

Each says its time window (receptive field R, stride S in input frames: output frame u
reads input frames S*u .. S*u + R - 1 and nothing else), which chunked inference needs;
one that pads in time has none and cannot run on chunks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from asr.config.model_schema import (
    Conv2dFrontendConfig,
    DwStridingFrontendConfig,
    StackFrontendConfig,
)
from asr.functional.lengths import make_pad_mask
from asr.nn.encoder import NotStreamableError


def pad_time_to(x: torch.Tensor, min_frames: int) -> torch.Tensor:
    """(N, T, D) -> (N, max(T, min_frames), D), zero frames appended.

    Branch-free, so that exported graphs keep a dynamic time axis and work for inputs of
    any length: an ``if T < min_frames`` would be decided once, at export time, for the
    example input. torch.export needs ``sym_max`` (a bool of a symbolic size would
    specialize it); the TorchScript tracer sees T as a tensor, where ``sym_max`` fails and
    multiplying by the comparison is recorded as graph ops.
    """
    t = x.shape[1]
    pad = (min_frames - t) * (t < min_frames) if torch.jit.is_tracing() \
        else torch.sym_max(0, min_frames - t)
    return torch.cat([x, x.new_zeros(x.shape[0], pad, x.shape[2])], dim=1)


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

    def time_window(self) -> tuple[int, int]:
        return self.stack, self.stack

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

    def time_window(self) -> tuple[int, int]:
        field, stride = 1, 1
        for kernel, step in self.layers_spec:
            field += (kernel - 1) * stride
            stride *= step
        return field, stride

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
        x = pad_time_to(x, self.min_frames)  # too short for the kernels: output length 0
        y = self.conv(x.unsqueeze(1))  # (N, 1, T, D) -> (N, C, T', D')
        n, c, t, f = y.shape
        y = y.transpose(1, 2).reshape(n, t, c * f)  # (N, T', C*D'): channels x freq per frame
        return self.dropout(self.out(y)), self.output_lengths(lengths)


class DwStridingFrontend(nn.Module):
    """FastConformer's x8 (or x4, x16) subsampling: Conv2d(1 -> C, 3x3, stride 2), then
    per further factor 2 a depthwise Conv2d(C, 3x3, stride 2) and a pointwise Conv2d(C, 1x1),
    ReLU after each stage, then a linear from C x freq to ``output_dim``.

    Kernels are padded by 1 in time and frequency (NeMo's layout), so each stage maps L
    frames to ceil(L / 2): T' = ceil(T / factor), 1 frame in, 1 frame out. Padded
    convolutions would see the batch padding, which after the first stage is no longer
    zero; the frames past each utterance's length are zeroed before every stage, so a
    stage sees exactly the zeros of its own padding and the valid outputs do not depend on
    how much padding follows an utterance. Depthwise-separable stages cost C x 9 + C x C
    weights instead of C x C x 9: at 256 channels, about 8x fewer multiply-adds per frame.
    """

    def __init__(self, input_dim: int, cfg: DwStridingFrontendConfig):
        super().__init__()
        c = cfg.channels
        self.stages = cfg.subsampling.bit_length() - 1  # log2 of the factor
        layers = [nn.Conv2d(1, c, 3, stride=2, padding=1)]
        for _ in range(self.stages - 1):
            layers.append(nn.Sequential(nn.Conv2d(c, c, 3, stride=2, padding=1, groups=c),
                                        nn.Conv2d(c, c, 1)))
        self.layers = nn.ModuleList(layers)
        freq = input_dim
        for _ in range(self.stages):
            freq = (freq + 1) // 2
        self.out = nn.Linear(c * freq, cfg.output_dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.output_dim = cfg.output_dim

    def time_window(self) -> tuple[int, int]:
        raise NotStreamableError("the DwStridingFrontend frontend cannot run on chunks "
                                 "(it pads in time); use conv2d or stack")

    def output_length(self, num_frames: int) -> int:
        for _ in range(self.stages):
            num_frames = (num_frames + 1) // 2
        return num_frames

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        for _ in range(self.stages):
            lengths = torch.div(lengths + 1, 2, rounding_mode="floor")
        return lengths

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, T, D), lengths (N,) -> (N, ceil(T / factor), output_dim), output lengths."""
        y = x.unsqueeze(1)  # (N, 1, T, D): time and frequency as the image axes
        for layer in self.layers:
            pad = make_pad_mask(lengths, y.shape[2])[:, None, :, None]  # (N, 1, T_k, 1)
            y = torch.relu(layer(y.masked_fill(pad, 0.0)))
            lengths = torch.div(lengths + 1, 2, rounding_mode="floor")
        n, c, t, f = y.shape
        y = y.transpose(1, 2).reshape(n, t, c * f)  # (N, T', C*D'): channels x freq per frame
        return self.dropout(self.out(y)), lengths
