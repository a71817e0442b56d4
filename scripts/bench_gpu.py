#!/usr/bin/env python3
"""The GPU run in one command: the ~30M Conformer-CTC (conf/conformer_ctc_30m.yaml) trained
in bf16 on dynamic batches of LibriSpeech-like lengths, eager and under torch.compile, and
greedy CTC decoding; within a hard wall-clock budget (5 minutes by default).

Training goes through the project's own step (:meth:`asr.train.loop.Trainer.train_step`:
autocast, CTC loss, backward, clipping, the finite check, AdamW, the schedule) fed by a
DataLoader with the training sampler, collate and pinned memory; only the features are
synthetic (seeded noise: the speed of a step does not depend on what the frames hold).
Reported: hours of audio trained per device-hour, milliseconds per step, peak device memory;
the compiled model's compile time and its speed against eager in the same run; decoding's
real-time factor. Each section is guarded: a failure (compile, out of memory) is a row of
the table and the next section still runs; sections left when the budget runs out are
listed as skipped, and a watchdog prints the table and exits if a section overruns it.

    python scripts/bench_gpu.py [--device cuda] [--budget-s 300] [--json OUT]
    python scripts/bench_gpu.py --device cpu --tiny     # a 2-layer model, seconds on a CPU
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import torch
from benchlib import Row, print_table
from torch.utils.data import DataLoader, Dataset

from asr.config import load_config
from asr.config.schema import ExperimentConfig
from asr.data.collate import collate
from asr.data.sampler import BucketBatchSampler
from asr.data.tokenizer import CharTokenizer
from asr.functional.ctc_search import ctc_greedy_search
from asr.nn.registry import build_model
from asr.train.distributed import Dist
from asr.train.loop import Trainer
from asr.train.optim import build_optimizer, build_scheduler
from asr.train.state import TrainState

REPO = Path(__file__).resolve().parents[1]
FEAT_DIM, VOCAB = 80, 500  # 80-dim fbank and BPE 500: the sizes the 30M configs are made for
FRAME_S = 0.01  # 10 ms frame shift
# LibriSpeech training utterances last ~1 to ~35 s (mean ~12 s): uniform 2-20 s gives
# batches of realistic size and padding; tokens at ~4 per second, as BPE 500 produces
FULL = {"min_frames": 200, "max_frames": 2000, "utts": 4000, "overrides": {}}
TINY = {"min_frames": 60, "max_frames": 300, "utts": 400,
        "overrides": {"d_model": 32, "num_layers": 2, "num_heads": 4, "ff_dim": 64,
                      "kernel_size": 5}}
TOKENS_PER_FRAME = 0.04
# shares of the budget: compiling is the slow part; whatever a section leaves is kept;
# compiling goes last: its warm-up cannot be interrupted, and on an H200 (2026-12-04) it
# overran a 150 s budget, whose watchdog then ended the run before decoding was measured
SHARES = {"train bf16 eager": 0.3, "decode greedy fp32": 0.2, "train bf16 torch.compile": 0.5}


class SyntheticUtterances(Dataset):
    """(utt_id, feats (T, 80), targets (L,), text) items of fixed, seeded lengths; the
    features are drawn when read, so thousands of utterances take no memory."""

    def __init__(self, num_utts: int, min_frames: int, max_frames: int, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.lengths = torch.randint(min_frames, max_frames + 1, (num_utts,), generator=g).tolist()
        self.seed = seed

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> tuple[str, torch.Tensor, torch.Tensor, str]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        t = self.lengths[i]
        targets = torch.randint(2, VOCAB, (max(1, int(t * TOKENS_PER_FRAME)),), generator=g)
        return f"utt{i:06d}", torch.randn(t, FEAT_DIM, generator=g), targets, ""


def experiment_config(args: argparse.Namespace) -> ExperimentConfig:
    cfg = load_config(ExperimentConfig, args.config)
    size = TINY if args.tiny else FULL
    encoder = dataclasses.replace(cfg.model.encoder, **size["overrides"])
    frontend = cfg.model.frontend
    if args.tiny:
        frontend = dataclasses.replace(frontend, channels=16, output_dim=encoder.d_model)
    data = dataclasses.replace(cfg.data, max_frames=args.max_frames or
                               (3000 if args.tiny else cfg.data.max_frames))
    train = dataclasses.replace(cfg.train, amp="bf16", device=args.device)
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, frontend=frontend,
                                                              encoder=encoder),
                               data=data, train=train)


def loader(cfg: ExperimentConfig, dataset: SyntheticUtterances, device: torch.device,
           workers: int, shuffle: bool) -> DataLoader:
    """As :func:`asr.train.runner.build_trainer` makes them: bucketed dynamic batches,
    pinned memory on CUDA."""
    sampler = BucketBatchSampler(dataset.lengths, cfg.data.max_frames, cfg.data.max_utts,
                                 shuffle=shuffle, seed=0, pool_batches=cfg.data.pool_batches)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=workers,
                      pin_memory=device.type == "cuda", persistent_workers=workers > 0)


def make_trainer(cfg: ExperimentConfig, model: torch.nn.Module, train: DataLoader,
                 device: torch.device, exp: Path) -> Trainer:
    optimizer = build_optimizer(model.parameters(), cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.scheduler, 10**6)
    tokens = ["<blank>", "<unk>"] + [chr(0x4E00 + i) for i in range(VOCAB - 2)]
    return Trainer(cfg=cfg, exp=exp, model=model, tokenizer=CharTokenizer(tokens),
                   optimizer=optimizer, scheduler=scheduler,
                   scaler=torch.amp.GradScaler(device.type, enabled=False), state=TrainState(),
                   train_loader=train, sampler=train.batch_sampler, dev_loader=train,
                   loader_generator=torch.Generator(),
                   device=device, writer=None, dist=Dist(device=device))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> str:
    if device.type != "cuda":
        return "- (CPU)"
    return f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"


def time_training(trainer: Trainer, until: float, warmup: int, max_steps: int) -> dict:
    """Steps until ``until`` (monotonic seconds) or ``max_steps``; the first ``warmup``
    steps (allocator growth, autotuning, compilation) are timed apart from the rest."""
    device = trainer.device
    reset_peak(device)
    trainer.model.train()
    t0 = time.monotonic()
    steps, frames, timed_from, timed_frames, skipped = 0, 0, None, 0, 0
    while True:
        for batch in trainer.train_loader:
            out = trainer.train_step([batch])  # reads loss and norm: the step has finished
            steps += 1
            skipped += int(out.skipped)
            if steps == warmup:
                timed_from = time.monotonic()
            elif steps > warmup:
                timed_frames += out.frames
            frames += out.frames
            if steps > warmup and (steps >= max_steps or time.monotonic() > until):
                break
        else:
            continue
        break
    synchronize(device)
    end = time.monotonic()
    if timed_from is None or steps == warmup:
        raise ValueError(f"the loader gave only {steps} batches, all warm-up; use more "
                         "utterances or fewer --warmup steps")
    timed = end - timed_from
    return {"steps": steps - warmup, "warmup_steps": warmup,
            "warmup_s": timed_from - t0, "seconds": timed,
            "ms_per_step": 1e3 * timed / (steps - warmup),
            "audio_hours_per_device_hour": timed_frames * FRAME_S / timed,
            "frames_per_batch": frames / steps, "skipped_steps": skipped,
            "peak_memory": peak_memory(device)}


def cuda_syncs_per_step(trainer: Trainer) -> list[str]:
    """The messages of every host synchronization in one training step, as CUDA's sync
    debug mode reports them: the finite check, and whatever torch's kernels add (its CTC
    loss copies the lengths to the host). The CPU test can only count Python-level reads
    (tests/functional/test_host_sync.py); this counts all of them."""
    batch = next(iter(trainer.train_loader))
    torch.cuda.synchronize(trainer.device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            trainer.train_step([batch])
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return [str(w.message).splitlines()[0] for w in caught
            if "synchroniz" in str(w.message)]


def sync_row(section: str, trainer: Trainer, results: dict) -> Row:
    """The table row of :func:`cuda_syncs_per_step`, its own failure included (the
    section's timings stand either way); the messages go into ``results``."""
    what = f"{section}: host syncs per step"
    if trainer.device.type != "cuda":
        return Row(what, "- (CUDA only)")
    try:
        syncs = cuda_syncs_per_step(trainer)
    except Exception as e:  # noqa: BLE001 - reported in the table
        return Row(what, f"failed: {type(e).__name__}: {e}"[:160])
    results["host_syncs_per_step"] = syncs
    return Row(what, str(len(syncs)), "1 is the finite check; the rest are torch's")


@torch.no_grad()
def time_decoding(model: torch.nn.Module, batches: DataLoader, device: torch.device,
                  until: float) -> dict:
    """Forward + greedy search per batch, fp32; the real-time factor over what fit."""
    model.eval()
    reset_peak(device)
    audio_s, elapsed, n = 0.0, 0.0, 0
    for i, batch in enumerate(batches):
        t0 = time.monotonic()
        b = batch.to(device)
        log_probs, out_lens = model(b.feats, b.feat_lens)
        ctc_greedy_search(log_probs, out_lens)  # moves the best paths to the host: synced
        if i > 0:  # the first batch pays for kernel selection and allocation
            elapsed += time.monotonic() - t0
            audio_s += batch.num_frames * FRAME_S
            n += len(batch.utt_ids)
        if time.monotonic() > until:
            break
    if n == 0:
        raise TimeoutError("no batch past the first fit in the time left")
    return {"utterances": n, "audio_s": audio_s, "seconds": elapsed, "rtf": elapsed / audio_s,
            "peak_memory": peak_memory(device)}


class Budget:
    """Deadlines for the sections, and a watchdog for a section that never returns (a
    compile or a kernel that hangs): past the budget plus ``grace_s`` it prints what was
    measured and ends the process with exit code 124, as timeout(1) does."""

    def __init__(self, seconds: float, grace_s: float, on_expiry):
        self.start = time.monotonic()
        self.end = self.start + seconds
        self._timer = threading.Timer(seconds + grace_s, on_expiry)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        return self.end - time.monotonic()

    def cancel(self) -> None:
        self._timer.cancel()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    p.add_argument("--tiny", action="store_true", help="a 2 x 32 Conformer on short batches")
    p.add_argument("--config", type=Path, default=REPO / "conf" / "conformer_ctc_30m.yaml")
    p.add_argument("--budget-s", type=float, default=300.0, help="wall clock for everything")
    p.add_argument("--max-frames", type=int, default=0,
                   help="padded frames per batch (default: the config's data.max_frames)")
    p.add_argument("--max-steps", type=int, default=200, help="timed steps per section at most")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--workers", type=int, default=-1,
                   help="DataLoader workers (default: 4 on CUDA, 0 on CPU)")
    p.add_argument("--compile-backend", default="inductor",
                   help="torch.compile backend (the test uses 'eager' for speed)")
    p.add_argument("--json", type=Path, help="also write the measurements here")
    return p


def run(args: argparse.Namespace) -> tuple[list[str], list[Row], dict]:
    wall0 = time.monotonic()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py: no CUDA device here; use --device cpu --tiny")
    torch.manual_seed(0)
    cfg = experiment_config(args)
    workers = args.workers if args.workers >= 0 else (4 if device.type == "cuda" else 0)
    size = TINY if args.tiny else FULL
    data = SyntheticUtterances(size["utts"], size["min_frames"], size["max_frames"])
    results: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda"
                     else "cpu", "torch": torch.__version__, "config": str(args.config),
                     "tiny": args.tiny, "max_frames": cfg.data.max_frames, "sections": {}}
    rows: list[Row] = []
    notes: list[str] = []

    def report() -> None:
        results["wall_s"] = time.monotonic() - wall0
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")

    def expired() -> None:
        running = results.get("running", "?")
        rows.append(Row(running, f"stopped: overran the {args.budget_s:.0f} s budget"))
        results["sections"][running] = {"error": "overran the budget"}
        report()
        print_table(notes, rows)
        sys.stdout.flush()
        os._exit(124)

    budget = Budget(args.budget_s, grace_s=max(10.0, 0.1 * args.budget_s), on_expiry=expired)
    model = build_model(cfg.model, FEAT_DIM, VOCAB).to(device)
    params = sum(p.numel() for p in model.parameters())
    notes += [f"{results['device']}, torch {torch.__version__}, {params / 1e6:.1f}M parameters "
              f"({args.config.name}{', tiny' if args.tiny else ''}), bf16 autocast",
              f"dynamic batches of <= {cfg.data.max_frames} padded frames, utterances "
              f"{size['min_frames'] * FRAME_S:g}-{size['max_frames'] * FRAME_S:g} s, "
              f"{workers} loader workers, budget {args.budget_s:.0f} s"]
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}

    with tempfile.TemporaryDirectory() as exp:
        train_loader = loader(cfg, data, device, workers, shuffle=True)
        share_left = sum(SHARES.values())
        for name, share in SHARES.items():
            left = budget.left()
            if left <= 0:
                rows.append(Row(name, "skipped: budget spent"))
                results["sections"][name] = {"error": "skipped: budget spent"}
                continue
            until = time.monotonic() + left * share / share_left
            share_left -= share
            results["running"] = name
            try:
                model.load_state_dict(initial)  # every section starts from the same weights
                if name.startswith("decode"):
                    dev = loader(cfg, data, device, 0, shuffle=False)
                    r = time_decoding(model, dev, device, until)
                    rows += [Row(f"{name}: real-time factor", f"{r['rtf']:.5f}",
                                 f"{r['utterances']} utts, {r['audio_s'] / 3600:.2f} h"),
                             Row(f"{name}: peak memory", r["peak_memory"])]
                else:
                    compiled = "compile" in name
                    net = (torch.compile(model, dynamic=True, backend=args.compile_backend)
                           if compiled else model)
                    trainer = make_trainer(cfg, net, train_loader, device, Path(exp))
                    r = time_training(trainer, until, args.warmup, args.warmup + args.max_steps)
                    eager = results["sections"].get("train bf16 eager", {})
                    speed = r["audio_hours_per_device_hour"]
                    ref = eager.get("audio_hours_per_device_hour")
                    rows += [Row(f"{name}: audio h per device h", f"{speed:.1f}",
                                 f"{ref:.1f} (eager)" if compiled and ref else "-",
                                 f"{speed / ref:.2f}" if compiled and ref else "-"),
                             Row(f"{name}: step", f"{r['ms_per_step']:.1f} ms",
                                 f"{r['steps']} steps of {r['frames_per_batch']:.0f} frames"),
                             Row(f"{name}: warm-up", f"{r['warmup_s']:.1f} s",
                                 f"{r['warmup_steps']} steps"
                                 + (f", {args.compile_backend}" if compiled else "")),
                             Row(f"{name}: peak memory", r["peak_memory"])]
                    if not compiled:
                        rows.append(sync_row(name, trainer, r))
                results["sections"][name] = r
            except Exception as e:  # noqa: BLE001 - reported in the table, the rest still runs
                first_line = str(e).splitlines()[0][:120] if str(e) else ""
                msg = f"failed: {type(e).__name__}: {first_line}"
                rows.append(Row(name, msg))
                results["sections"][name] = {"error": msg}
            finally:
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    budget.cancel()
    results.pop("running", None)
    notes.append(f"total {time.monotonic() - wall0:.0f} s")
    report()
    return notes, rows, results


def main() -> int:
    args = parser().parse_args()
    notes, rows, results = run(args)
    print_table(notes, rows)
    return 1 if any("error" in s for s in results["sections"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
