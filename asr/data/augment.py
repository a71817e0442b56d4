"""SpecAugment masks, seeded per (seed, epoch, utterance) so any worker count gives the same
masks for the same utterance."""

from __future__ import annotations

import zlib

import torch
import torch.nn.functional as F

from asr.config.schema import SpecAugmentConfig


def utterance_generator(seed: int, epoch: int, utt_id: str) -> torch.Generator:
    """A private RNG for one utterance in one epoch: independent of worker and order."""
    g = torch.Generator()
    g.manual_seed(zlib.crc32(f"{seed}/{epoch}/{utt_id}".encode()))
    return g


def time_warp(feats: torch.Tensor, max_warp: int, g: torch.Generator) -> torch.Tensor:
    """Move a random frame w0 by up to ``max_warp`` frames, stretching the (T, D) features
    on each side of it linearly (SpecAugment's time warp); T is unchanged."""
    num_frames = feats.shape[0]
    if max_warp <= 0 or num_frames <= 2 * max_warp + 1:
        return feats
    center = int(torch.randint(max_warp, num_frames - max_warp, (1,), generator=g))
    shift = int(torch.randint(-max_warp, max_warp + 1, (1,), generator=g))
    if shift == 0:
        return feats
    x = feats.T.unsqueeze(0)  # (T, D) -> (1, D, T): interpolate works over the last dim
    left = F.interpolate(x[..., :center], size=center + shift, mode="linear",
                         align_corners=True)
    right = F.interpolate(x[..., center:], size=num_frames - center - shift, mode="linear",
                          align_corners=True)
    return torch.cat([left, right], dim=-1)[0].T  # (1, D, T) -> (T, D)


def spec_augment(feats: torch.Tensor, cfg: SpecAugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Optionally time-warp, then zero random frequency bands and time spans of (T, D)
    normalized features.

    Zero is the mean after CMVN, so a mask removes information without shifting stats.
    """
    out = time_warp(feats, cfg.time_warp, g).clone()
    num_frames, dim = out.shape

    def span(max_width: int, size: int) -> tuple[int, int]:
        width = int(torch.randint(0, max(0, min(max_width, size)) + 1, (1,), generator=g))
        start = int(torch.randint(0, size - width + 1, (1,), generator=g))
        return start, width

    for _ in range(cfg.num_freq_masks):
        start, width = span(cfg.max_freq_width, dim)
        out[:, start:start + width] = 0.0
    max_t = min(cfg.max_time_width, int(cfg.max_time_ratio * num_frames))
    for _ in range(cfg.num_time_masks):
        start, width = span(max_t, num_frames)
        out[start:start + width, :] = 0.0
    return out
