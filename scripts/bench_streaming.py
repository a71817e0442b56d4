#!/usr/bin/env python3
"""What one streaming chunk costs on one CPU thread: audio is fed to a StreamingRecognizer
in pieces of --chunk-ms, each call timed (streaming fbank, global CMVN, the model on its
caches, the resumable search); prints the time per chunk against the chunk's duration.

The goal (issue 14): each 320 ms chunk costs <= 10 % of its duration. Without --exp-dir
the model is recipes/digits/conf/conformer_streaming.yaml randomly initialised (the
digits recipe's size, features and character vocabulary), so the cost is that of the
trained model, whatever it would say.

    python scripts/bench_streaming.py [--exp-dir E] [--chunk-ms 320] [--seconds 20]
        [--method greedy|prefix_beam] [--beam 10]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from asr.config import load_config, save_config
from asr.config.schema import ExperimentConfig, FbankConfig
from asr.data.cmvn_stats import save_stats
from asr.decode.recognizer import StreamingRecognizer
from asr.decode.search import SearchSpec, make_search
from asr.exp.experiment import Experiment
from asr.testing import make_exp_dir
from asr.testing.fixtures import synth_utterance

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "recipes/digits/conf"


def random_digits_exp(root: Path) -> Path:
    """An exp dir with the digits streaming model, untrained, and identity CMVN stats (the
    recipe's online CMVN then starts from mean 0, variance 1)."""
    # the RIR source run.sh adds: decoding never reads it
    cfg = load_config(ExperimentConfig, DIGITS / "conformer_streaming.yaml",
                      ["data.augment.reverb.source=rirs"])
    feats = load_config(FbankConfig, DIGITS / "fbank.yaml")
    exp = make_exp_dir(root / "exp", model=cfg.model, feats=feats)
    save_config(cfg, exp / "config.yaml")
    dim = feats.num_mel_bins
    stats = np.zeros((2, dim + 1))
    stats[0, -1], stats[1, :dim] = 1.0, 1.0  # count 1, mean 0, variance 1
    save_stats(exp / "cmvn.ark", stats)
    return exp


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--exp-dir", type=Path, help="a trained streaming exp (default: random)")
    p.add_argument("--chunk-ms", type=float, default=320.0)
    p.add_argument("--seconds", type=float, default=20.0, help="audio streamed")
    p.add_argument("--method", choices=["greedy", "prefix_beam"], default="greedy")
    p.add_argument("--beam", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        exp = Experiment.load(args.exp_dir or random_digits_exp(Path(tmp)))
        search = make_search(exp, SearchSpec(args.method, args.beam), streaming=True)
        recognizer = StreamingRecognizer(exp, args.chunk_ms, search=search)
        rate = exp.feats.sample_rate
        digits = list(np.random.default_rng(0).integers(0, 10, int(args.seconds / 0.4) + 1))
        audio = (synth_utterance(digits, rate)[:int(args.seconds * rate)] / 32768.0
                 ).astype(np.float32)
        step = int(rate * args.chunk_ms / 1000)
        recognizer.accept_waveform(audio[:step])  # warm-up: first calls allocate, compile
        recognizer.finalize()
        times = []
        for start in range(0, audio.size, step):
            t0 = time.perf_counter()
            recognizer.accept_waveform(audio[start:start + step])
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        recognizer.finalize()
        final = time.perf_counter() - t0
    chunk_s = args.chunk_ms / 1000
    params = sum(p.numel() for p in recognizer.model.model.parameters())
    print(f"model: {'random digits streaming Conformer' if not args.exp_dir else args.exp_dir}"
          f", {params / 1e6:.2f}M parameters; {args.method} search; 1 CPU thread")
    print(f"{len(times)} chunks of {args.chunk_ms:g} ms ({recognizer.chunk_size} encoder "
          f"frames), {audio.size / rate:.1f} s of audio")
    for name, t in (("mean", statistics.mean(times)),
                    ("p95", sorted(times)[int(0.95 * (len(times) - 1))]),
                    ("max", max(times)), ("finalize", final)):
        print(f"{name:>9}: {t * 1000:7.2f} ms per chunk = {100 * t / chunk_s:5.2f} % of its "
              "duration")


if __name__ == "__main__":
    main()
