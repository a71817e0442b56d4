#!/usr/bin/env python3
"""Data pipeline speed and Kaldi compatibility, in one run on the same audio and arks.

Rows (ratios > 1 mean ours is faster):
- fbank extraction, x real time: ours (asr.data.kaldi_fbank: torchaudio's steps with the
  filterbank and window cached) vs torchaudio.compliance.kaldi.fbank and lhotse's Fbank
  on the same in-memory audio, one thread each;
- Kaldi compatibility: max |ours - torchaudio.compliance.kaldi.fbank|;
- random access, utterances/s: our Dataset (ArkReader + global CMVN) vs raw
  kaldiio.load_scp reads, both in the same shuffled order;
- DataLoader (bucketed batches, collate) with 0 and 2 workers, utterances/s per epoch.

    python scripts/bench_data.py [--fsdd-dir DIR] [--num-utts 1500] [--repeats 3]

Without FSDD (FSDD_DIR or --fsdd-dir) it synthesizes speech-like audio.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import kaldiio
import numpy as np
import soundfile
import torch
import torchaudio.compliance.kaldi as kaldi
from benchlib import Row, print_table
from torch.utils.data import DataLoader

from asr.config.schema import FbankConfig
from asr.data import cmvn, cmvn_stats
from asr.data.collate import collate
from asr.data.dataset import FeatsDataset, load_utterances
from asr.data.features import compute_fbank, write_data_dir_feats
from asr.data.kaldi_dir import write_data_dir
from asr.data.sampler import BucketBatchSampler
from asr.data.tokenizer import load_tokenizer, train_tokenizer
from asr.testing.fixtures import WORDS, synth_utterance

RATE = 8000
CFG = FbankConfig(sample_rate=RATE, num_mel_bins=40)


def make_dir(root: Path, fsdd: Path | None, n: int, rate: int = RATE,
             digits: tuple[int, int] = (3, 3)) -> Path:
    """A data dir of the first ``n`` FSDD files, or of ``n`` synthesized utterances at
    ``rate`` of ``digits`` [low, high] words each (0.4 s a word, 0.1 s of lead-in)."""
    d = root / "data"
    wav, text, utt2spk = {}, {}, {}
    if fsdd is not None:
        for f in sorted(fsdd.glob("*_*_*.wav"))[:n]:
            digit, spk, idx = f.stem.split("_")
            utt = f"{spk}-{digit}-{idx}"
            wav[utt], text[utt], utt2spk[utt] = str(f.resolve()), WORDS[int(digit)], spk
    else:
        (root / "wav").mkdir()
        rng = np.random.default_rng(0)
        for i in range(n):
            count = digits[0] if digits[0] == digits[1] else \
                int(rng.integers(digits[0], digits[1] + 1))
            words = [int(x) for x in rng.integers(0, 10, count)]
            f = root / "wav" / f"s{i % 4}-{i:05d}.wav"
            soundfile.write(f, synth_utterance(words, rate, i), rate, subtype="PCM_16")
            utt = f.stem
            wav[utt], text[utt] = str(f), " ".join(WORDS[x] for x in words)
            utt2spk[utt] = f"s{i % 4}"
    write_data_dir(d, wav, text, utt2spk)
    return d


def best_of(repeats: int, *fns) -> list[float]:
    """Best time of each function over ``repeats`` rounds, interleaved so that load from
    other processes hits them alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t)
    return best


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fsdd-dir", type=Path, default=os.environ.get("FSDD_DIR"))
    p.add_argument("--num-utts", type=int, default=1500)
    p.add_argument("--repeats", type=int, default=3)
    return p


def run(args: argparse.Namespace) -> tuple[list[str], list[Row]]:
    torch.set_num_threads(1)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = make_dir(Path(tmp), args.fsdd_dir, args.num_utts)
        wavs = sorted((d / "wav.scp").read_text().splitlines())
        audio = [torch.from_numpy(soundfile.read(line.split(maxsplit=1)[1], dtype="int16")[0]
                                  .astype(np.float32)) for line in wavs]
        seconds = sum(a.numel() for a in audio) / RATE

        # fbank: ours vs lhotse's Fbank, same audio in memory, one thread
        from lhotse import Fbank
        from lhotse import FbankConfig as LhotseFbankConfig

        # the same options as ours: Kaldi's defaults (high_freq 0 = Nyquist), snip edges
        lhotse_fbank = Fbank(LhotseFbankConfig(sampling_rate=RATE, num_filters=40, dither=0.0,
                                               snip_edges=True, high_freq=0.0))
        floats = [a.numpy() for a in audio]  # int16 scale, as Kaldi (and ours) take it
        def torchaudio_fbank():
            return [kaldi.fbank(a[None], sample_frequency=RATE, num_mel_bins=40, dither=0.0,
                                energy_floor=0.0) for a in audio]

        ours, theirs, torchaudio_s = best_of(
            args.repeats, lambda: [compute_fbank(a, RATE, CFG) for a in audio],
            lambda: [lhotse_fbank.extract(a, RATE) for a in floats], torchaudio_fbank)
        rows.append(Row("fbank extraction (x real time)", f"{seconds / ours:.0f}",
                        f"{seconds / theirs:.0f} (lhotse Fbank)", f"{theirs / ours:.2f}"))
        rows.append(Row("fbank extraction (x real time)", f"{seconds / ours:.0f}",
                        f"{seconds / torchaudio_s:.0f} (torchaudio kaldi.fbank)",
                        f"{torchaudio_s / ours:.2f}"))

        # Kaldi compatibility against torchaudio's own function
        ref = torchaudio_fbank()
        diff = max(float((compute_fbank(a, RATE, CFG) - r).abs().max())
                   for a, r in zip(audio, ref, strict=True))
        lhotse_diff = max(float(np.abs(lhotse_fbank.extract(f, RATE) - r.numpy()).max())
                          for f, r in zip(floats, ref, strict=True))
        rows.append(Row("max |fbank - torchaudio kaldi.fbank|", f"{diff:.2e}",
                        f"{lhotse_diff:.2e} (lhotse Fbank)"))

        # the stage itself, one job, float arks
        t = time.perf_counter()
        write_data_dir_feats(d, CFG)
        stage = time.perf_counter() - t
        rows.append(Row("fbank stage, --nj 1, incl. audio + ark I/O (x RT)",
                        f"{seconds / stage:.0f}"))

        # random access by scp offset, same shuffled order
        train_tokenizer(list(dict(line.split(maxsplit=1) for line in
                                  (d / "text").read_text().splitlines()).values()),
                        Path(tmp) / "lang", "char")
        utts = load_utterances(d, load_tokenizer(Path(tmp) / "lang"))
        norm = cmvn.GlobalCmvn(cmvn_stats.data_dir_stats(d))
        order = list(range(len(utts)))
        random.Random(0).shuffle(order)
        ds = FeatsDataset(utts, norm)
        raw = kaldiio.load_scp(str(d / "feats.scp"))
        keys = [utts[i].utt_id for i in order]
        t_ours, t_raw = best_of(args.repeats, lambda: [ds[i] for i in order],
                                lambda: [raw[k] for k in keys])
        n = len(order)
        rows.append(Row("random access (utt/s)", f"{n / t_ours:.0f} (Dataset)",
                        f"{n / t_raw:.0f} (kaldiio load_scp)", f"{t_raw / t_ours:.2f}"))

        # DataLoader epochs over bucketed batches: a fresh loader per epoch (worker start-up
        # included, as the training loop builds it now) and persistent workers after warm-up
        sampler = BucketBatchSampler([u.num_frames for u in utts], 4000, seed=0)
        for workers, persistent in ((0, False), (2, False), (2, True)):
            loader = DataLoader(ds, batch_sampler=sampler, collate_fn=collate,
                                num_workers=workers, persistent_workers=persistent)
            if persistent:
                for _ in loader:  # warm-up: start the workers once
                    pass

            def epoch(loader=loader):
                for _ in loader:
                    pass
            (t,) = best_of(args.repeats, epoch)
            what = "persistent, steady state" if persistent else "start-up included"
            rows.append(Row(f"DataLoader, {workers} workers, {what} (utt/s)", f"{n / t:.0f}"))
    source = f"FSDD {args.fsdd_dir}" if args.fsdd_dir else "synthesized audio"
    return [f"{n} utterances, {seconds:.0f} s of {RATE} Hz audio ({source}); "
            f"{CFG.num_mel_bins} mel bins; best of {args.repeats}; torch threads 1"], rows


def main() -> None:
    print_table(*run(parser().parse_args()))


if __name__ == "__main__":
    main()
