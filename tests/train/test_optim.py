"""Learning-rate schedules (asr.train.optim.lr_factor): exact values at the turning points
and their shape, and the LambdaLR that applies them to the optimizer."""

import math
from itertools import pairwise

import pytest
import torch

from asr.config.schema import OptimConfig, SchedulerConfig
from asr.train.optim import build_optimizer, build_scheduler, lr_factor

WARM, TOTAL, FLOOR = 8, 108, 0.01  # 100 steps of cosine after 8 of warmup


def cosine(**kw) -> SchedulerConfig:
    return SchedulerConfig(name="warmup_cosine", warmup_steps=WARM, min_lr_ratio=FLOOR, **kw)


def test_warmup_cosine_turning_points():
    cfg = cosine()
    assert lr_factor(0, cfg, TOTAL) == 1 / WARM  # the first step already moves the weights
    assert lr_factor(WARM // 2 - 1, cfg, TOTAL) == 0.5
    assert lr_factor(WARM - 1, cfg, TOTAL) == 1.0  # end of warmup: the peak
    assert lr_factor(WARM, cfg, TOTAL) == 1.0  # the cosine starts at its top
    mid = WARM + (TOTAL - WARM) // 2
    assert lr_factor(mid, cfg, TOTAL) == pytest.approx(FLOOR + (1 - FLOOR) / 2, abs=1e-12)
    quarter = WARM + (TOTAL - WARM) // 4
    assert lr_factor(quarter, cfg, TOTAL) == pytest.approx(
        FLOOR + (1 - FLOOR) * 0.5 * (1 + math.cos(math.pi / 4)), abs=1e-12)
    assert lr_factor(TOTAL, cfg, TOTAL) == pytest.approx(FLOOR, abs=1e-12)  # the floor
    assert lr_factor(TOTAL + 50, cfg, TOTAL) == pytest.approx(FLOOR, abs=1e-12)  # stays there


def test_warmup_cosine_rises_then_falls_to_the_floor():
    cfg = cosine()
    f = [lr_factor(s, cfg, TOTAL) for s in range(TOTAL + 10)]
    assert all(a < b for a, b in pairwise(f[:WARM]))  # warmup: strictly up to the peak
    assert all(a > b for a, b in pairwise(f[WARM:TOTAL + 1]))  # cosine: strictly down
    assert all(a >= b for a, b in pairwise(f[WARM - 1:]))  # never up again after the peak
    assert max(f) == 1.0 and min(f) == pytest.approx(FLOOR, abs=1e-12)
    assert all(FLOOR - 1e-12 <= x <= 1.0 for x in f)


def test_constant_and_noam_warm_up_to_the_same_peak():
    const = SchedulerConfig(name="constant", warmup_steps=WARM)
    assert [lr_factor(s, const, TOTAL) for s in (0, WARM - 1, WARM, TOTAL * 2)] == \
        [1 / WARM, 1.0, 1.0, 1.0]
    noam = SchedulerConfig(name="noam", warmup_steps=WARM)
    assert lr_factor(0, noam, TOTAL) == 1 / WARM and lr_factor(WARM - 1, noam, TOTAL) == 1.0
    assert lr_factor(4 * WARM - 1, noam, TOTAL) == 0.5  # inverse square root: 4x steps, lr/2
    # no warmup configured: full lr from the first step (warmup_steps 0 counts as 1)
    assert lr_factor(0, SchedulerConfig(warmup_steps=0), TOTAL) == 1.0


def test_scheduler_applies_the_factor_to_the_optimizer_lr():
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(2))], OptimConfig(lr=2e-3))
    sched = build_scheduler(opt, cosine(), TOTAL)
    seen = []
    for _ in range(TOTAL + 1):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    expected = [2e-3 * lr_factor(s, cosine(), TOTAL) for s in range(TOTAL + 1)]
    assert seen == pytest.approx(expected, rel=1e-12, abs=0)
