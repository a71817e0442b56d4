"""Optimizers and learning-rate schedules from the config."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR

from asr.config.schema import OptimConfig, SchedulerConfig


def build_optimizer(params, cfg: OptimConfig) -> torch.optim.Optimizer:
    cls = torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam
    return cls(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)


def lr_factor(step: int, cfg: SchedulerConfig, total_steps: int) -> float:
    """Multiplier of the peak lr after ``step`` optimizer steps.

    warmup_cosine: linear warmup, then a half cosine down to min_lr_ratio at total_steps.
    noam: linear warmup then inverse square-root decay, normalized to peak 1 at warmup.
    """
    warm = max(1, cfg.warmup_steps)
    if cfg.name == "constant":
        return min(1.0, (step + 1) / warm)
    if cfg.name == "noam":
        s = step + 1
        return min(s / warm, math.sqrt(warm / s))
    if step < warm:
        return (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1, total_steps - warm))
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(opt: torch.optim.Optimizer, cfg: SchedulerConfig, total_steps: int) -> LambdaLR:
    return LambdaLR(opt, lambda step: lr_factor(step, cfg, total_steps))
