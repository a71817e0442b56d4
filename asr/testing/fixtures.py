"""Synthetic speech-like audio and tiny data dirs, so tests never download anything."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from asr.data.kaldi_dir import write_data_dir

WORDS = ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE")


def synth_utterance(digits: list[int], rate: int = 8000, seed: int = 0) -> np.ndarray:
    """int16 audio: one 0.3 s harmonic 'word' per digit (pitch set by the digit), with
    noise pauses; distinct enough per digit for a tiny model to learn."""
    rng = np.random.default_rng(seed)
    parts = [rng.normal(0, 30, int(0.1 * rate))]
    for d in digits:
        t = np.arange(int(0.3 * rate)) / rate
        f0 = 150 + 40 * d
        word = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3))
        envelope = np.sin(np.pi * t / t[-1])
        parts += [3000 * word * envelope + rng.normal(0, 30, t.size),
                  rng.normal(0, 30, int(0.1 * rate))]
    return np.clip(np.concatenate(parts), -32768, 32767).astype(np.int16)


def make_data_dir(path: Path, num_utts: int = 4, rate: int = 8000, seed: int = 0,
                  max_digits: int = 3) -> dict[str, str]:
    """Write wav files and a data dir (wav.scp, text, utt2spk, spk2utt); return the text."""
    path = Path(path)
    wav_dir = path / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    wav_scp, text, utt2spk = {}, {}, {}
    for i in range(num_utts):
        spk = f"spk{i % 2}"
        utt = f"{spk}-utt{i:03d}"
        digits = [int(d) for d in rng.integers(0, 10, rng.integers(1, max_digits + 1))]
        wav = wav_dir / f"{utt}.wav"
        soundfile.write(wav, synth_utterance(digits, rate, seed * 1000 + i), rate, subtype="PCM_16")
        wav_scp[utt] = str(wav.resolve())
        text[utt] = " ".join(WORDS[d] for d in digits)
        utt2spk[utt] = spk
    write_data_dir(path, wav_scp, text, utt2spk)
    return text
