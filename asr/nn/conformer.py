"""Conformer encoder (Gulati et al., 2020): macaron feed-forwards, relative-position
multi-head self-attention (Transformer-XL style, as in ESPnet and WeNet), a depthwise
convolution module, pre-LayerNorm, padding masks; an optional GradientFilter per layer.

The conv module normalizes with LayerNorm rather than BatchNorm so that padding and
batch composition never change an utterance's output.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call

from asr.config.schema import ConformerConfig
from asr.functional.lengths import make_pad_mask
from asr.nn.grad_filter import GradientFilter


def relative_positions(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """Sinusoidal embeddings of relative distances T-1 ... -(T-1): (2T-1, dim)."""
    pos = torch.arange(length - 1, -length, -1, device=device, dtype=torch.float32)
    inv = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32)
                    * (-math.log(10000.0) / dim))
    emb = torch.zeros(2 * length - 1, dim, device=device)
    emb[:, 0::2] = torch.sin(pos[:, None] * inv)
    emb[:, 1::2] = torch.cos(pos[:, None] * inv)
    return emb


def rel_shift(x: torch.Tensor) -> torch.Tensor:
    """(N, H, T, 2T-1) scores over distances T-1..-(T-1) -> (N, H, T, T) over keys j,
    entry (i, j) taken at distance i - j (Transformer-XL's pad-and-reshape trick)."""
    n, h, t, p = x.shape
    x = torch.nn.functional.pad(x, (1, 0))  # (N, H, T, 2T)
    x = x.view(n, h, p + 1, t)[:, :, 1:].reshape(n, h, t, p)
    return x[..., :t]


class RelPositionAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        if dim % heads:
            raise ValueError(f"encoder.d_model {dim} must be divisible by num_heads {heads}")
        self.heads, self.d_k = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.pos = nn.Linear(dim, dim, bias=False)
        self.bias_u = nn.Parameter(torch.zeros(heads, self.d_k))
        self.bias_v = nn.Parameter(torch.zeros(heads, self.d_k))
        self.out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pos_emb: torch.Tensor, pad_mask: torch.Tensor
                ) -> torch.Tensor:
        n, t, _ = x.shape
        # (N, T, 3D) -> 3 x (N, H, T, d_k)
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, self.d_k).permute(2, 0, 3, 1, 4)
        p = self.pos(pos_emb).view(-1, self.heads, self.d_k).transpose(0, 1)  # (H, 2T-1, d_k)
        content = (q + self.bias_u[None, :, None]) @ k.transpose(-1, -2)  # (N, H, T, T)
        position = rel_shift((q + self.bias_v[None, :, None]) @ p.transpose(-1, -2))
        scores = (content + position) / math.sqrt(self.d_k)
        scores = scores.masked_fill(pad_mask[:, None, None, :], float("-inf"))
        attn = self.dropout(torch.softmax(scores, dim=-1))
        return self.out((attn @ v).transpose(1, 2).reshape(n, t, -1))  # (N, T, D)


class ConvModule(nn.Module):
    def __init__(self, dim: int, kernel_size: int, dropout: float):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"encoder.kernel_size must be odd, got {kernel_size}")
        self.pointwise_in = nn.Conv1d(dim, 2 * dim, 1)
        self.depthwise = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pointwise_out = nn.Conv1d(dim, dim, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        """x (N, T, D), pad_mask (N, T) True at padding -> (N, T, D)."""
        x = x.masked_fill(pad_mask[..., None], 0.0).transpose(1, 2)  # (N, D, T) for Conv1d
        x = nn.functional.glu(self.pointwise_in(x), dim=1)
        # padded frames are zeroed again so the depthwise kernel never sees their values
        x = self.depthwise(x.masked_fill(pad_mask[:, None], 0.0))
        x = nn.functional.silu(self.norm(x.transpose(1, 2))).transpose(1, 2)
        return self.dropout(self.pointwise_out(x).transpose(1, 2))  # (N, T, D)


def feed_forward(dim: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.SiLU(),
                         nn.Dropout(dropout), nn.Linear(hidden, dim), nn.Dropout(dropout))


class ConformerBlock(nn.Module):
    """x + FF/2 -> x + MHSA -> x + Conv -> x + FF/2 -> LayerNorm (macaron, pre-LN)."""

    def __init__(self, cfg: ConformerConfig):
        super().__init__()
        d = cfg.d_model
        self.ff1 = feed_forward(d, cfg.ff_dim, cfg.dropout)
        self.norm_attn = nn.LayerNorm(d)
        self.attn = RelPositionAttention(d, cfg.num_heads, cfg.attention_dropout)
        self.norm_conv = nn.LayerNorm(d)
        self.conv = ConvModule(d, cfg.kernel_size, cfg.dropout)
        self.ff2 = feed_forward(d, cfg.ff_dim, cfg.dropout)
        self.norm_out = nn.LayerNorm(d)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, pos_emb: torch.Tensor, pad_mask: torch.Tensor
                ) -> torch.Tensor:
        x = x + 0.5 * self.ff1(x)
        x = x + self.dropout(self.attn(self.norm_attn(x), pos_emb, pad_mask))
        x = x + self.conv(self.norm_conv(x), pad_mask)
        x = x + 0.5 * self.ff2(x)
        return self.norm_out(x)


class ConformerEncoder(nn.Module):
    """(N, T, D_in) -> (N, T, d_model); lengths unchanged."""

    def __init__(self, input_dim: int, cfg: ConformerConfig):
        super().__init__()
        self.input_proj = (nn.Identity() if input_dim == cfg.d_model
                           else nn.Linear(input_dim, cfg.d_model))
        self.scale = math.sqrt(cfg.d_model)  # as ESPnet: inputs scaled before position info
        self.dropout = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(ConformerBlock(cfg) for _ in range(cfg.num_layers))
        self.filters = nn.ModuleList(
            GradientFilter(batch_dim=0, threshold=cfg.grad_filter.threshold)
            for _ in range(cfg.num_layers)) if cfg.grad_filter.enabled else None
        self.output_dim = cfg.d_model

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.dropout(self.input_proj(x) * self.scale)
        pad_mask = make_pad_mask(lengths, x.shape[1])  # (N, T), True at padding
        pos_emb = self.dropout(relative_positions(x.shape[1], x.shape[2], x.device))
        # the filters only act on gradients: without them, blocks run plainly (inference,
        # tracing for export)
        filtered = self.filters is not None and torch.is_grad_enabled()
        for i, block in enumerate(self.blocks):
            if not filtered:
                x = block(x, pos_emb, pad_mask)
                continue
            names, params = zip(*block.named_parameters(), strict=True)
            x, *params = self.filters[i](x, *params)
            x = functional_call(block, dict(zip(names, params, strict=True)),
                                (x, pos_emb, pad_mask))
        return x, lengths
