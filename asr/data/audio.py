"""Load audio named by a wav.scp entry (a file path, a ``cmd |`` pipe or an ark offset), and
write the 16-bit wav files that data-dir stages make."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import soundfile
import torch

from asr.data.kaldi_dir import is_pipe, refuse_pipe
from asr.data.torchaudio_lib import torchaudio
from asr.errors import AsrError, DataError, refuse_optimized


def seconds_to_samples(seconds: float, rate: int) -> int:
    """Rounded, not truncated as Kaldi's extract-segments does: 0.57 s x 100 Hz is 57, not 56."""
    return int(round(seconds * rate))


def load_audio(rxfilename: str, utt_id: str = "?", start: float = 0.0, end: float = -1.0,
               allow_pipes: bool = True) -> tuple[torch.Tensor, int]:
    """Return (samples in int16 scale as float32, shape (S,), sample rate).

    ``rxfilename`` is a wav.scp value: a path, a ``cmd |`` pipe (refused without
    ``allow_pipes``) or an extended filename ``file.ark:offset``; ``start``/``end``
    (seconds, end < 0 = to the end) cut a segment.
    Kaldi's fbank expects 16-bit sample values, so float audio is scaled by 32768.
    Multi-channel audio is rejected: Kaldi wav.scp would select a channel with sox.
    """
    if not allow_pipes:
        refuse_pipe(rxfilename, f"utterance '{utt_id}'")
    try:
        if is_pipe(rxfilename) or ".ark:" in rxfilename:
            import kaldiio

            refuse_optimized()
            rate, data = kaldiio.load_mat(rxfilename)
            samples = np.asarray(data)
            if samples.dtype.kind == "f":
                samples = samples * 32768.0
            first = seconds_to_samples(start, rate)
            samples = samples[first:seconds_to_samples(end, rate) if end >= 0 else None]
        elif start == 0 and end < 0:
            samples, rate = soundfile.read(rxfilename, dtype="int16", always_2d=False)
        else:
            rate = soundfile.info(rxfilename).samplerate
            samples, rate = soundfile.read(
                rxfilename, dtype="int16", always_2d=False, start=seconds_to_samples(start, rate),
                stop=seconds_to_samples(end, rate) if end >= 0 else None)
    except AsrError:
        raise
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


def write_wav(path: Path, samples: torch.Tensor, rate: int) -> str:
    """Write (S,) audio in int16 scale as a 16-bit PCM wav (rounded, clipped); return the
    absolute path, for wav.scp."""
    out = np.clip(np.round(samples.numpy()), -32768, 32767).astype(np.int16)
    soundfile.write(path, out, rate, subtype="PCM_16")
    return str(Path(path).resolve())
