#!/usr/bin/env python3
"""Time one training step (forward, CTC loss, backward, clip, AdamW) of our BiLSTM-CTC and
Conformer-CTC against a bare loop of the same sizes and batch, in the same run.

The bare loops use torch.nn.LSTM and torchaudio.models.Conformer directly with
F.ctc_loss. GradientFilter's own cost is reported separately (ours with it on vs. off).
Prints a table; ratios > 1 mean ours is slower.

    python scripts/bench_train_step.py [--batch 16] [--frames 400] [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch
import torch.nn.functional as F
import torchaudio
from benchlib import Row, print_table
from torch import nn

from asr.config.schema import (
    BiLSTMConfig,
    ConformerConfig,
    Conv2dFrontendConfig,
    GradFilterConfig,
    ModelConfig,
    StackFrontendConfig,
)
from asr.nn.ctc_head import ctc_loss
from asr.nn.registry import build_model

VOCAB, FEAT_DIM = 500, 80


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


def make_step(model: nn.Module, ours_loss: bool, batch):
    """A closure running one full training step of ``model`` on ``batch``."""
    x, lens, y, ylens = batch
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()

    def step() -> None:
        log_probs, out_lens = model(x, lens)
        if ours_loss:
            loss, _ = ctc_loss(log_probs, out_lens, y, ylens)
        else:
            loss = F.ctc_loss(log_probs.transpose(0, 1), y, out_lens, ylens, reduction="sum",
                              zero_infinity=True)
        opt.zero_grad(set_to_none=True)
        (loss / x.shape[0]).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    return step


def time_interleaved(steps: list, repeats: int) -> list[float]:
    """Median seconds per step of each closure, run in turn so that drift in the machine's
    speed (other load, frequency changes) hits every one of them alike."""
    times: list[list[float]] = [[] for _ in steps]
    for i in range(repeats + 2):  # 2 warm-up rounds
        for k, step in enumerate(steps):
            t0 = time.perf_counter()
            step()
            if i >= 2:
                times[k].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--frames", type=int, default=400)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--threads", type=int, default=0)
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
    batch = (x, lens, y, ylens)

    stack = StackFrontendConfig(stack=4)
    conv = Conv2dFrontendConfig(channels=64, output_dim=144)
    lstm = BiLSTMConfig(num_layers=3, hidden_size=256, dropout=0.1)
    conformer = ConformerConfig()
    rows = [
        ("BiLSTM-CTC 3x256", BareLSTM(),
         ours(replace(lstm, grad_filter=GradFilterConfig(False)), stack), ours(lstm, stack)),
        ("Conformer-CTC 4x144", BareConformer(), ours(conformer, conv),
         ours(replace(conformer, grad_filter=GradFilterConfig(True)), conv)),
    ]
    out = []
    for name, bare, mine, mine_gf in rows:
        tb, to, tg = time_interleaved([make_step(bare, False, batch),
                                       make_step(mine, True, batch),
                                       make_step(mine_gf, True, batch)], args.repeats)
        out += [Row(f"{name} step, GradientFilter off", f"{to * 1e3:.1f} ms",
                    f"{tb * 1e3:.1f} ms (bare torch)", f"{to / tb:.3f}"),
                Row(f"{name} step, GradientFilter on", f"{tg * 1e3:.1f} ms",
                    f"{tb * 1e3:.1f} ms (bare torch)", f"{tg / tb:.3f}")]
    return [f"one training step, batch {n} x {t} frames x {FEAT_DIM} dims, vocab {VOCAB}, "
            f"{torch.get_num_threads()} threads, median of {args.repeats} interleaved steps"], out


def main() -> None:
    print_table(*run(parser().parse_args()))


if __name__ == "__main__":
    main()
