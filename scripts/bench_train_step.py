#!/usr/bin/env python3
"""Time one training step (forward, CTC loss, backward, clip, AdamW) of our BiLSTM-CTC and
Conformer-CTC against bare torch loops of the same sizes and batch, in the same run.

Two comparisons per architecture, each against its reference measured alongside it:

- the model: ours (GradientFilter off, then on) against torch.nn.LSTM /
  torchaudio.models.Conformer, both driven by the same bare loop (F.ctc_loss, backward,
  clip_grad_norm_, optimizer step);
- the loop: :meth:`asr.train.loop.Trainer.train_step` (finite check, GradientFilter stats,
  scheduler, counters) against that bare loop over a copy of the same model and batch,
  the overhead of our training step itself.

Every step of a row and of its reference runs in the same process (same threads), after a
warm-up, in interleaved blocks whose order alternates (ABBA...), so drift in the machine's
speed hits both alike. Each row gives the median per-step time of each, the ratio of the
medians (> 1: ours is slower) and the interquartile range of the per-block ratios; a
row whose range is wider than --max-spread says "unstable": rerun it on a quieter machine
or with more --blocks. With fewer than 4 blocks the range is the min-max instead.
The defaults take about 3 minutes on one CPU thread.

    python scripts/bench_train_step.py [--batch 16] [--frames 400] [--blocks 10]
"""

from __future__ import annotations

import argparse
import copy
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
import torchaudio
from benchlib import Row, print_table
from torch import nn

from asr.config.model_schema import (
    BiLSTMConfig,
    ConformerConfig,
    Conv2dFrontendConfig,
    GradFilterConfig,
    ModelConfig,
    StackFrontendConfig,
)
from asr.config.schema import ExperimentConfig, OptimConfig, TrainConfig
from asr.data.collate import Batch
from asr.nn.registry import build_model
from asr.train.loop import Trainer
from asr.train.optim import build_optimizer, build_scheduler
from asr.train.state import TrainState

VOCAB, FEAT_DIM = 500, 80
OPTIM = OptimConfig()  # the optimizer of every loop here, ours and bare: AdamW as trained


class BareLSTM(nn.Module):
    """4-frame stacking + nn.LSTM(3 x 256, bidirectional) + linear, nothing else."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4 * FEAT_DIM, 256, num_layers=3, bidirectional=True,
                            batch_first=True, dropout=0.1)
        self.out = nn.Linear(512, VOCAB)

    def forward(self, x, lens):
        n, t, d = x.shape
        x = F.pad(x, (0, 0, 0, (-t) % 4)).reshape(n, -1, 4 * d)
        lens = (lens + 3) // 4
        packed = nn.utils.rnn.pack_padded_sequence(x, lens.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        y, _ = nn.utils.rnn.pad_packed_sequence(self.lstm(packed)[0], batch_first=True,
                                                total_length=x.shape[1])
        return self.out(y).log_softmax(-1), lens


class BareConformer(nn.Module):
    """Conv2d x4 subsampling + torchaudio.models.Conformer(4 x 144) + linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 64, 3, 2), nn.ReLU(), nn.Conv2d(64, 64, 3, 2),
                                  nn.ReLU())
        self.proj = nn.Linear(64 * (((FEAT_DIM - 1) // 2 - 1) // 2), 144)
        self.conformer = torchaudio.models.Conformer(input_dim=144, num_heads=4, ffn_dim=576,
                                                     num_layers=4, depthwise_conv_kernel_size=15,
                                                     dropout=0.1)
        self.out = nn.Linear(144, VOCAB)

    def forward(self, x, lens):
        y = self.conv(x.unsqueeze(1))
        n, c, t, f = y.shape
        y = self.proj(y.transpose(1, 2).reshape(n, t, c * f))
        lens = ((lens - 1) // 2 - 1) // 2
        y, lens = self.conformer(y, lens)
        return self.out(y).log_softmax(-1), lens


def ours(encoder, frontend) -> nn.Module:
    return build_model(ModelConfig(frontend=frontend, encoder=encoder), FEAT_DIM, VOCAB)


def bare_step(model: nn.Module, batch: Batch) -> Callable[[], None]:
    """A closure running one step of the bare loop: forward, F.ctc_loss, backward,
    clip_grad_norm_, optimizer step, nothing else."""
    x, lens, y, ylens = batch.feats, batch.feat_lens, batch.targets, batch.target_lens
    opt = build_optimizer(model.parameters(), OPTIM)
    model.train()

    def step() -> None:
        log_probs, out_lens = model(x, lens)
        loss = F.ctc_loss(log_probs.transpose(0, 1), y, out_lens, ylens, reduction="sum",
                          zero_infinity=True)
        opt.zero_grad(set_to_none=True)
        (loss / x.shape[0]).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    return step


def trainer_step(model: nn.Module, batch: Batch, exp: Path) -> Callable[[], None]:
    """A closure running :meth:`Trainer.train_step` of ``model`` on ``batch``: the step
    ``asr train`` takes (no TensorBoard writer: scalars are written every log_interval
    steps, outside the step)."""
    cfg = ExperimentConfig(optim=OPTIM, train=TrainConfig(device="cpu", clip_grad_norm=5.0))
    opt = build_optimizer(model.parameters(), cfg.optim)
    trainer = Trainer(cfg=cfg, exp=exp, model=model, tokenizer=None, optimizer=opt,
                      scheduler=build_scheduler(opt, cfg.scheduler, 10**9),
                      scaler=torch.amp.GradScaler("cpu", enabled=False), state=TrainState(),
                      train_loader=None, sampler=None, dev_loader=None,
                      loader_generator=torch.Generator(),
                      device=torch.device("cpu"), writer=None)
    model.train()
    group = [batch]
    return lambda: trainer.train_step(group)


def time_blocks(steps: list[Callable[[], None]], blocks: int, per_block: int,
                warmup: int) -> list[list[list[float]]]:
    """Seconds of each step, ``out[k][b]`` for closure k in block b: after ``warmup`` steps
    of each, ``blocks`` blocks of ``per_block`` steps of each closure in turn, the order
    reversed every other block (ABBA), so that drift in the machine's speed (other load,
    frequency changes) hits every closure alike."""
    for step in steps:
        for _ in range(warmup):
            step()
    out: list[list[list[float]]] = [[] for _ in steps]
    for b in range(blocks):
        order = range(len(steps)) if b % 2 == 0 else reversed(range(len(steps)))
        gc.collect()
        for k in order:
            times = []
            for _ in range(per_block):
                t0 = time.perf_counter()
                steps[k]()
                times.append(time.perf_counter() - t0)
            out[k].append(times)
    return out


def compare(ours_t: list[list[float]], ref_t: list[list[float]], max_spread: float
            ) -> tuple[float, float, str]:
    """Median seconds per step of ours and of the reference over all blocks, and the
    ratio cell: ratio of medians, the interquartile range of the per-block ratios (of
    per-block medians), "unstable" when that range is wider than ``max_spread``."""
    mo = statistics.median(t for b in ours_t for t in b)
    mr = statistics.median(t for b in ref_t for t in b)
    per_block = sorted(statistics.median(o) / statistics.median(r)
                       for o, r in zip(ours_t, ref_t, strict=True))
    if len(per_block) >= 4:
        q1, _, q3 = statistics.quantiles(per_block, n=4, method="inclusive")
    else:
        q1, q3 = per_block[0], per_block[-1]
    cell = f"{mo / mr:.3f} (IQR {q1:.3f}-{q3:.3f})"
    if q3 - q1 > max_spread:
        cell += " unstable"
    return mo, mr, cell


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--frames", type=int, default=400)
    p.add_argument("--blocks", type=int, default=10,
                   help="interleaved blocks (even: as many in each order)")
    p.add_argument("--per-block", type=int, default=2, help="steps of each loop per block")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps of each loop first")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads, the same for every loop (0: torch's default)")
    p.add_argument("--max-spread", type=float, default=0.05,
                   help="per-block ratio IQR beyond which a row is flagged unstable")
    p.add_argument("--models", default="bilstm,conformer")
    return p


def run(args: argparse.Namespace) -> tuple[list[str], list[Row]]:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n, t = args.batch, args.frames
    lens = torch.randint(t // 2, t + 1, (n,))
    lens[0] = t
    x = torch.randn(n, t, FEAT_DIM)
    ylens = torch.randint(5, t // 16, (n,))
    y = torch.randint(1, VOCAB, (n, int(ylens.max())))
    y[torch.arange(y.shape[1])[None] >= ylens[:, None]] = 0  # zero padded, as collated
    batch = Batch(x, lens, y, ylens, [f"u{i}" for i in range(n)], [""] * n,
                  int(lens.sum()))

    stack = StackFrontendConfig(stack=4)
    conv = Conv2dFrontendConfig(channels=64, output_dim=144)
    lstm = BiLSTMConfig(num_layers=3, hidden_size=256, dropout=0.1)
    conformer = ConformerConfig()
    archs = {
        "bilstm": ("BiLSTM-CTC 3x256", BareLSTM, lambda gf: ours(
            replace(lstm, grad_filter=GradFilterConfig(gf)), stack)),
        "conformer": ("Conformer-CTC 4x144", BareConformer, lambda gf: ours(
            replace(conformer, grad_filter=GradFilterConfig(gf)), conv)),
    }
    out = []
    with tempfile.TemporaryDirectory() as exp:
        for key in args.models.split(","):
            name, bare_cls, mine = archs[key]
            mine_off, mine_on = mine(False), mine(True)
            steps = [bare_step(bare_cls(), batch), bare_step(mine_off, batch),
                     bare_step(mine_on, batch),
                     trainer_step(copy.deepcopy(mine_on), batch, Path(exp))]
            tb, to, tg, tt = time_blocks(steps, args.blocks, args.per_block, args.warmup)
            for what, a, b, ref in (
                    (f"{name} step, GradientFilter off", to, tb, "bare torch model"),
                    (f"{name} step, GradientFilter on", tg, tb, "bare torch model"),
                    (f"{name} Trainer.train_step (GradientFilter on)", tt, tg,
                     "bare loop, our model")):
                ma, mb, cell = compare(a, b, args.max_spread)
                out.append(Row(what, f"{ma * 1e3:.1f} ms", f"{mb * 1e3:.1f} ms ({ref})", cell))
    return [f"one training step, batch {n} x {t} frames x {FEAT_DIM} dims, vocab {VOCAB}, "
            f"{torch.get_num_threads()} threads for every loop; median per step over "
            f"{args.blocks} interleaved ABBA blocks of {args.per_block} steps each after "
            f"{args.warmup} warm-up steps; IQR: of the per-block ratios, 'unstable' beyond "
            f"{args.max_spread}"], out


def main() -> None:
    print_table(*run(parser().parse_args()))


if __name__ == "__main__":
    main()
