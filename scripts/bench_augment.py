#!/usr/bin/env python3
"""On-the-fly augmentation throughput: training utterances/s with data.augment against
plain on-the-fly fbank, through the DataLoader with 0 and 2 workers.

Rows (ratio = augmented / plain utterances/s, both measured in the same run):
- noise + reverb + VTLP + SpecAugment, each at probability 1, 0 and 2 workers;
- each waveform augmentation alone (and tempo, the costliest), 0 workers.

    python scripts/bench_augment.py [--fsdd-dir DIR] [--num-utts 300] [--repeats 3]

Without FSDD (FSDD_DIR or --fsdd-dir, 8 kHz) it synthesizes 0.9-2.5 s utterances at 16 kHz;
noise and RIRs are synthesized too (white-ish noise files, 'asr make-rirs' RIRs).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch
from bench_data import make_dir
from benchlib import Row, print_table
from torch.utils.data import DataLoader

from asr.config.augment_schema import (
    AugmentConfig,
    NoiseConfig,
    ReverbConfig,
    TempoConfig,
    VolumeConfig,
    VtlpConfig,
)
from asr.config.schema import FbankConfig, SpecAugmentConfig
from asr.data.collate import collate
from asr.data.dataset import FeatsDataset, OnTheFlyFbank, load_utterances
from asr.data.features import write_data_dir_feats
from asr.data.rir_sim import write_rirs
from asr.data.sampler import BucketBatchSampler
from asr.data.tokenizer import load_tokenizer, train_tokenizer


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fsdd-dir", type=Path, default=os.environ.get("FSDD_DIR"))
    p.add_argument("--num-utts", type=int, default=300)
    p.add_argument("--repeats", type=int, default=3)
    return p


def run(args: argparse.Namespace) -> tuple[list[str], list[Row]]:
    torch.set_num_threads(1)
    rate = 8000 if args.fsdd_dir else 16000
    cfg = FbankConfig(sample_rate=rate, num_mel_bins=80)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        d = make_dir(root, args.fsdd_dir, args.num_utts, rate, (2, 6))  # 0.9-2.5 s
        write_data_dir_feats(d, cfg, write_feats=False)
        texts = [line.split(maxsplit=1)[1] for line in (d / "text").read_text().splitlines()]
        train_tokenizer(texts, root / "lang", "char")
        utts = load_utterances(d, load_tokenizer(root / "lang"), from_audio=True)
        seconds = sum(u.num_frames for u in utts) / 100
        (root / "noise").mkdir()
        for i in range(4):  # 20 s each: utterances take random stretches
            soundfile.write(root / "noise" / f"n{i}.wav", np.random.default_rng(i).normal(
                0, 1000, 20 * rate).astype(np.int16), rate, subtype="PCM_16")
        write_rirs(root / "rirs", 50, rate, seed=0)
        full = AugmentConfig(reverb=ReverbConfig(1.0, str(root / "rirs")),
                             noise=NoiseConfig(1.0, str(root / "noise")), vtlp=VtlpConfig(1.0))
        alone = {"noise": AugmentConfig(noise=full.noise),
                 "reverb": AugmentConfig(reverb=full.reverb),
                 "VTLP": AugmentConfig(vtlp=full.vtlp),
                 "volume": AugmentConfig(volume=VolumeConfig(1.0)),
                 "tempo": AugmentConfig(tempo=TempoConfig(1.0))}
        sampler = BucketBatchSampler([u.num_frames for u in utts], 4000, seed=0)

        def epoch_time(augment: AugmentConfig | None, specaug: bool, workers: int) -> float:
            ds = FeatsDataset(utts, lambda x, u: x, SpecAugmentConfig(enabled=specaug),
                              source=OnTheFlyFbank(cfg, augment=augment))
            loader = DataLoader(ds, batch_sampler=sampler, collate_fn=collate,
                                num_workers=workers, persistent_workers=workers > 0)
            for _ in loader:  # warm-up: workers started, noise and RIRs loaded once
                pass
            best = float("inf")
            for _ in range(args.repeats):
                t = time.perf_counter()
                for _ in loader:
                    pass
                best = min(best, time.perf_counter() - t)
            return best

        n = len(utts)
        rows = []
        for workers in (0, 2):
            aug = epoch_time(full, True, workers)
            plain = epoch_time(None, False, workers)
            rows.append(Row(f"noise+reverb+VTLP+SpecAugment, {workers} workers (utt/s)",
                            f"{n / aug:.0f}", f"{n / plain:.0f} (plain fbank)",
                            f"{plain / aug:.2f}"))
        plain = epoch_time(None, False, 0)
        for name, augment in alone.items():
            t = epoch_time(augment, False, 0)
            rows.append(Row(f"{name} alone, 0 workers (utt/s)", f"{n / t:.0f}",
                            f"{n / plain:.0f} (plain fbank)", f"{plain / t:.2f}"))
    source = f"FSDD {args.fsdd_dir}" if args.fsdd_dir else "synthesized audio"
    return [f"{n} utterances, {seconds:.0f} s of {rate} Hz audio ({source}); "
            f"{cfg.num_mel_bins} mel bins; persistent workers after a warm-up epoch; "
            f"best of {args.repeats}; torch threads 1 (workers: 1 each)"], rows


def main() -> None:
    print_table(*run(parser().parse_args()))


if __name__ == "__main__":
    main()
