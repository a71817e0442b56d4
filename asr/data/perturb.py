"""Speed perturbation as a data-dir stage, with Kaldi's naming (``sp0.9-`` prefixes).

Speed factor f plays the audio f times faster: tempo and pitch both change, which is what
makes it a cheap stand-in for more speakers (Ko et al., 2015).
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

from tqdm import tqdm

from asr.data.audio import load_audio, resample, write_wav
from asr.data.kaldi_dir import DataDir, write_data_dir
from asr.errors import DataError

log = logging.getLogger(__name__)


def speed_perturb(samples, rate: int, factor: float):
    """Resample (S,) audio so that, played at ``rate``, it runs ``factor`` times faster."""
    if factor == 1.0:
        return samples
    ratio = Fraction(factor).limit_denominator(100)  # 0.9 -> 9/10: small resampling kernels
    return resample(samples, ratio.numerator, ratio.denominator)


def perturb_data_dir(src: Path, dst: Path, factors: list[float], allow_pipes: bool = True
                     ) -> int:
    """Write ``dst`` holding every utterance of ``src`` at each speed factor; return count.

    Utterance and speaker ids get a ``sp{f}-`` prefix for f != 1 (so per-speaker stats
    keep perturbed copies apart, as in Kaldi); factor 1 keeps the original entries.
    Without ``allow_pipes`` a ``cmd |`` entry in ``src`` is refused before any audio is read.
    """
    if not factors or any(f <= 0 for f in factors):
        raise DataError(f"speed factors must be positive, got {factors}")
    d = DataDir.load(src, allow_pipes)
    d.require("wav.scp", "text", "utt2spk")
    assert d.wav_scp is not None and d.text is not None and d.utt2spk is not None
    wav_dir = (Path(dst) / "wav").resolve()
    wav_dir.mkdir(parents=True, exist_ok=True)
    wav_scp, text, utt2spk = {}, {}, {}
    for f in factors:
        prefix = "" if f == 1.0 else f"sp{f:g}-"
        for utt in tqdm(d.utt_ids, desc=f"speed {f:g}", mininterval=5, disable=f == 1.0):
            new = prefix + utt
            rx, start, end = d.audio_of(utt)
            if f == 1.0 and d.segments is None:
                wav_scp[new] = rx
            else:  # a segment is cut out into a file of its own, so dst needs no segments
                samples, rate = load_audio(rx, utt, start, end)
                out = speed_perturb(samples, rate, f) if f != 1.0 else samples
                wav_scp[new] = write_wav(wav_dir / f"{new}.wav", out, rate)
            text[new] = d.text[utt]
            utt2spk[new] = prefix + d.utt2spk[utt]
    write_data_dir(Path(dst), wav_scp, text, utt2spk)
    log.info("%s: %d utterances (%s x %d)", dst, len(wav_scp),
             ",".join(f"{f:g}" for f in factors), len(d.utt_ids))
    return len(wav_scp)
