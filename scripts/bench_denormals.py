#!/usr/bin/env python3
"""Time training steps of an exp's checkpoint with denormal floats computed and flushed.

A model on CTC's blank plateau (saturated LSTM gates) makes values below 1.2e-38 in its
activations and gradients, which x86 CPUs compute on a slow path; `asr` flushes them to
zero (torch.set_flush_denormal). This times forward + backward of the checkpoint in
training mode on a fixed random batch, alternating the two settings, one thread, and
prints the table (reference: flushing, as `asr` runs). A checkpoint that makes no
denormals gives a ratio near 1.

    python scripts/bench_denormals.py --exp-dir EXP [--checkpoint epoch-10.pt]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import Row, print_table  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--checkpoint", default=None, help="default: final.pt, else the newest epoch")
    p.add_argument("--batch", type=int, default=15)
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--steps", type=int, default=5, help="steps per timing")
    p.add_argument("--repeats", type=int, default=3, help="timings per setting, interleaved")
    args = p.parse_args()
    from asr.exp.experiment import Experiment

    torch.set_num_threads(1)
    exp = Experiment.load(args.exp_dir)
    model = exp.load_model(args.checkpoint)
    model.train()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, args.frames, exp.feats.num_mel_bins, generator=g)
    lens = torch.full((args.batch,), args.frames)

    def timed(flush: bool) -> float:
        torch.set_flush_denormal(flush)
        torch.manual_seed(0)  # the same dropout masks for both settings
        t0 = time.perf_counter()
        for _ in range(args.steps):
            model.zero_grad(set_to_none=True)
            log_probs, _ = model(x, lens)
            log_probs.sum().backward()
        return time.perf_counter() - t0

    timed(True), timed(False)  # warm-up
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.repeats):
        for flush in (False, True):
            times[flush].append(timed(flush))
    torch.set_flush_denormal(True)
    computed, flushed = (statistics.median(times[f]) for f in (False, True))
    print_table([f"{args.exp_dir} ({args.checkpoint or 'default checkpoint'}), {args.steps} "
                 f"forward+backward steps of ({args.batch}, {args.frames}, "
                 f"{exp.feats.num_mel_bins}), 1 thread, median of {args.repeats}",
                 "reference: denormals flushed to zero (what asr does)"],
                [Row("denormals computed (torch's default)", f"{computed:.3f} s",
                     f"{flushed:.3f} s", f"{computed / flushed:.2f}x")])


if __name__ == "__main__":
    main()
