"""Load audio named by a wav.scp entry: a file path, a ``cmd |`` pipe or an ark offset."""

from __future__ import annotations

import functools

import numpy as np
import soundfile
import torch
import torchaudio

from asr.errors import DataError


def load_audio(rxfilename: str, utt_id: str = "?") -> tuple[torch.Tensor, int]:
    """Return (samples in int16 scale as float32, shape (S,), sample rate).

    Kaldi's fbank expects 16-bit sample values, so float audio is scaled by 32768.
    Multi-channel audio is rejected: Kaldi wav.scp would select a channel with sox.
    """
    try:
        if rxfilename.endswith("|") or ".ark:" in rxfilename:
            import kaldiio

            rate, data = kaldiio.load_mat(rxfilename)
            samples = np.asarray(data)
            if samples.dtype.kind == "f":
                samples = samples * 32768.0
        else:
            samples, rate = soundfile.read(rxfilename, dtype="int16", always_2d=False)
    except Exception as e:  # soundfile, kaldiio and pipes raise many types
        raise DataError(f"utterance '{utt_id}': cannot read audio '{rxfilename}': {e}") from None
    if samples.ndim != 1:
        raise DataError(f"utterance '{utt_id}': audio '{rxfilename}' has {samples.shape[1]} "
                        "channels; asr expects mono (select a channel in wav.scp)")
    if samples.size == 0:
        raise DataError(f"utterance '{utt_id}': audio '{rxfilename}' is empty")
    return torch.from_numpy(samples.astype(np.float32)), int(rate)


@functools.lru_cache(maxsize=16)
def _resampler(rate: int, target: int) -> torchaudio.transforms.Resample:
    return torchaudio.transforms.Resample(rate, target)  # builds its sinc kernel once


def resample(samples: torch.Tensor, rate: int, target: int) -> torch.Tensor:
    """Band-limited resampling (torchaudio's sinc interpolation), kernels cached per pair."""
    if rate == target:
        return samples
    return _resampler(rate, target)(samples)
