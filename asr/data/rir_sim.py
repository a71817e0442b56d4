"""Simulated room impulse responses for users without recorded ones ('asr make-rirs').

The model is the statistical one (Polack, 1988): a direct-path impulse, then Gaussian noise
whose envelope falls 60 dB over the reverberation time RT60. It has no room geometry
(image-source simulators such as pyroomacoustics do) and no frequency-dependent decay,
but it gives the two things an acoustic model must learn to ignore: a smeared tail of a
given length, and a direct-to-reverberant ratio. No new dependency.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from asr.atomic_io import atomic_write_text
from asr.data.audio import write_wav
from asr.data.kaldi_dir import write_kv
from asr.errors import DataError

MAX_RT60 = 1.9  # s: longer tails would exceed data.augment.reverb.max_rir_seconds (2 s)


def simulate_rir(rate: int, rt60: float, drr_db: float, rng: np.random.Generator
                 ) -> np.ndarray:
    """(K,) float64 RIR, peak 1: the direct path 1-5 ms in (a source 0.3-1.7 m away), the
    tail from 1-10 ms after it (the first reflection), 60 dB down after ``rt60`` s.

    ``drr_db`` >= 0 is the direct-to-reverberant energy ratio; it keeps the direct path the
    largest sample, which is what reverberation aligns on.
    """
    delay = int(rng.uniform(0.001, 0.005) * rate)
    first = delay + max(1, int(rng.uniform(0.001, 0.010) * rate))
    t = np.arange(int(rt60 * rate)) / rate
    tail = rng.standard_normal(t.size) * np.exp(-3 * math.log(10) * t / rt60)  # 10^-3 at rt60
    rir = np.zeros(first + t.size)
    rir[first:] = tail
    rir[delay] = math.sqrt(10 ** (drr_db / 10) * float(np.sum(tail ** 2)))
    return rir / rir[delay]


def write_rirs(out_dir: Path, num: int, rate: int, seed: int,
               rt60: tuple[float, float] = (0.2, 0.8), drr_db: tuple[float, float] = (0.0, 10.0)
               ) -> int:
    """Write ``num`` RIRs as OUT_DIR/wav/rir-NNNNN.wav (16-bit), a wav.scp listing them and
    rir2rt60 (id -> RT60 s, DRR dB). RIR i depends on (seed, i) only."""
    if num < 1 or rate < 1:
        raise DataError(f"--num and --sample-rate must be >= 1, got {num} and {rate}")
    if not 0 < rt60[0] <= rt60[1] <= MAX_RT60:
        raise DataError(f"--rt60 {rt60[0]:g}:{rt60[1]:g}: expected 0 < low <= high <= "
                        f"{MAX_RT60:g} s (longer RIRs pass max_rir_seconds)")
    if not 0 <= drr_db[0] <= drr_db[1]:
        raise DataError(f"--drr {drr_db[0]:g}:{drr_db[1]:g}: expected 0 <= low <= high dB "
                        "(the direct path must stay the peak)")
    wav_dir = Path(out_dir) / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    wav_scp, info = {}, {}
    for i in range(num):
        rng = np.random.default_rng([seed, i])
        t60, drr = rng.uniform(*rt60), rng.uniform(*drr_db)
        rir = simulate_rir(rate, t60, drr, rng)
        name = f"rir-{i + 1:05d}"
        # half of full scale: the tail keeps ~50 dB above the 16-bit floor
        wav_scp[name] = write_wav(wav_dir / f"{name}.wav", torch.from_numpy(rir * 16384), rate)
        info[name] = f"{t60:.3f} {drr:.2f}"
    write_kv(Path(out_dir) / "rir2rt60", info)
    write_kv(Path(out_dir) / "wav.scp", wav_scp)
    atomic_write_text(Path(out_dir) / "README", f"{num} simulated RIRs at {rate} Hz "
                      f"(asr make-rirs --seed {seed}); rir2rt60: id RT60_s DRR_dB\n")
    return num
