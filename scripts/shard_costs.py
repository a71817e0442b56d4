#!/usr/bin/env python3
"""What one reader costs, for docs/scale.md's arithmetic: seconds of audio per second a
DataLoader worker delivers from shards of audio (FLAC decode alone, and with our fbank),
against fbank of the same samples already in memory (the reference, same run); and the
seconds a rank spends planning an epoch of a synthetic corpus of --hours.

    python scripts/shard_costs.py --shards data/shar/train [--hours 10000 --ranks 64]

One thread (torch and the process), as one DataLoader worker runs.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr.config.schema import FbankConfig  # noqa: E402
from asr.data.features import compute_fbank  # noqa: E402
from asr.data.shar_plan import ShardPlan  # noqa: E402
from asr.data.shar_read import iterate_shard, open_index, shard_data  # noqa: E402


def read_pass(directory: str, cfg: FbankConfig | None) -> tuple[float, float, int, list]:
    """(seconds, audio seconds, cuts, samples kept when cfg is None) of one pass."""
    index = open_index(directory)
    kept, audio, n = [], 0.0, 0
    t0 = time.perf_counter()
    for shard in index.shards:
        for cut in iterate_shard(index.paths(directory, shard), f"shard {shard.number}"):
            samples = torch.from_numpy(shard_data(cut, "audio"))
            audio += samples.numel() / index.sample_rate
            n += 1
            if cfg is not None:
                compute_fbank(samples, index.sample_rate, cfg, cut.id)
            else:
                kept.append(samples)
    return time.perf_counter() - t0, audio, n, kept


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shards", required=True, help="a shard dir of audio ('asr shar')")
    p.add_argument("--mel-bins", type=int, default=80)
    p.add_argument("--hours", type=float, default=10000)
    p.add_argument("--mean-seconds", type=float, default=12.3, help="LibriSpeech's mean")
    p.add_argument("--shard-size", type=int, default=1000)
    p.add_argument("--ranks", type=int, default=64)
    p.add_argument("--workers", type=int, default=8)
    args = p.parse_args()
    torch.set_num_threads(1)
    index = open_index(args.shards)
    cfg = FbankConfig(sample_rate=index.sample_rate, num_mel_bins=args.mel_bins)
    read_pass(args.shards, None)  # warm: the page cache holds the shards for every row
    t_read, audio, n, kept = read_pass(args.shards, None)
    t_both, _, _, _ = read_pass(args.shards, cfg)
    t0 = time.perf_counter()
    for samples in kept:
        compute_fbank(samples, index.sample_rate, cfg)
    t_fbank = time.perf_counter() - t0
    print(f"# {' '.join(sys.argv)}\n# {n} cuts, {audio / 3600:.3f} h at "
          f"{index.sample_rate} Hz, one thread, shards in the page cache\n")
    print("| one worker | s | audio s per s | cuts per s | vs fbank in memory |")
    print("|---|---|---|---|---|")
    for name, t in (("fbank of samples in memory (reference)", t_fbank),
                    ("shards: read + FLAC decode", t_read),
                    ("shards: read + FLAC decode + fbank", t_both)):
        print(f"| {name} | {t:.2f} | {audio / t:.0f} | {n / t:.0f} | {t_fbank / t:.2f} |")
    cuts = int(args.hours * 3600 / args.mean_seconds)
    rng = random.Random(0)
    lengths = [[int(rng.uniform(0.3, 1.7) * args.mean_seconds * 100)
                for _ in range(min(args.shard_size, cuts - k))]
               for k in range(0, cuts, args.shard_size)]
    t0 = time.perf_counter()
    plan = ShardPlan(lengths, 60000, 1000, seed=0, buffer_shards=4, rank=0,
                     world_size=args.ranks, lanes=args.workers)
    batches = len(plan.batches(1))
    t_plan = time.perf_counter() - t0
    print(f"\nplanning an epoch of {args.hours:g} h ({cuts} cuts in {len(lengths)} shards) on "
          f"one of {args.ranks} ranks with {args.workers} workers: {t_plan:.1f} s "
          f"({batches} batches of 60000 frames for this rank)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
