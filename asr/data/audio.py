"""Load audio named by a wav.scp entry (a file path, a ``cmd |`` pipe or an ark offset), and
write the 16-bit wav files that data-dir stages make.

Files and pipe output are decoded by soundfile (asr.data.audio_formats); only Kaldi wav arks
(``file.ark:offset``) go through kaldiio."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import soundfile
import torch

from asr.data.audio_formats import (
    INT16_SCALE,
    RawFormat,
    is_raw_name,
    raw_format_needed,
    read_sound,
    run_pipe,
    seconds_to_samples,
)
from asr.data.kaldi_dir import is_pipe, refuse_pipe
from asr.data.torchaudio_lib import torchaudio
from asr.errors import AsrError, DataError, refuse_optimized

__all__ = ["RawFormat", "load_audio", "load_raw", "resample", "seconds_to_samples", "write_wav"]


def load_audio(rxfilename: str, utt_id: str = "?", start: float = 0.0, end: float = -1.0,
               allow_pipes: bool = True, *, channel: int | None = None,
               raw: RawFormat | None = None) -> tuple[torch.Tensor, int]:
    """Return (samples in int16 scale as float32, shape (S,), sample rate).

    ``rxfilename`` is a wav.scp value: a path, a ``cmd |`` pipe (refused without
    ``allow_pipes``) or an extended filename ``file.ark:offset``; ``start``/``end``
    (seconds, end < 0 = to the end) cut a segment.
    Kaldi's fbank expects 16-bit sample values, so all audio is scaled to int16 range:
    16-bit values come out exactly, float audio is multiplied by 32768 (beyond +-1.0 kept).
    Multi-channel audio is never downmixed: it is an error unless ``channel`` (0-based)
    picks one. ``raw`` states the format of headerless ``.raw``/``.pcm`` files, which
    are an error without it.
    """
    where = f"utterance '{utt_id}'"
    if not allow_pipes:
        refuse_pipe(rxfilename, where)
    if is_pipe(rxfilename):
        frames, rate = read_sound(run_pipe(rxfilename, where), rxfilename, where, start, end)
    elif ".ark:" in rxfilename:
        frames, rate = _load_ark_wav(rxfilename, where, start, end)
    elif is_raw_name(rxfilename) and raw is None:
        raise DataError(f"{where}: cannot read audio '{rxfilename}': "
                        f"{raw_format_needed(rxfilename)}")
    else:
        frames, rate = read_sound(rxfilename, rxfilename, where, start, end,
                                  raw if is_raw_name(rxfilename) else None)
    return _one_channel(frames, rxfilename, where, channel), rate


def load_raw(path: str | Path, rate: int, width: int = 2, byte_order: str = "little",
             channels: int = 1, *, encoding: str = "signed", channel: int | None = None,
             utt_id: str = "?") -> tuple[torch.Tensor, int]:
    """Read a headerless PCM file of the stated format, whatever its name; returns what
    :func:`load_audio` does: (samples (S,) float32 in int16 scale, rate)."""
    where = f"utterance '{utt_id}'"
    try:
        fmt = RawFormat(rate, width, byte_order, channels, encoding)
    except ValueError as e:
        raise DataError(f"{where}: cannot read audio '{path}': {e}") from None
    frames, rate = read_sound(str(path), str(path), where, raw=fmt)
    return _one_channel(frames, str(path), where, channel), rate


def _load_ark_wav(rxfilename: str, where: str, start: float,
                  end: float) -> tuple[np.ndarray, int]:
    """A Kaldi wav ark entry (``file.ark:offset``) via kaldiio: (S, C) float32, rate."""
    import kaldiio

    refuse_optimized()  # kaldiio reads inside asserts
    try:
        rate, data = kaldiio.load_mat(rxfilename)
    except AsrError:
        raise
    except Exception as e:  # kaldiio raises many types
        raise DataError(f"{where}: cannot read audio '{rxfilename}': {e}") from None
    samples = np.asarray(data)
    if samples.dtype == np.uint8:  # 8-bit WAV is unsigned, centred on 128
        samples = (samples.astype(np.float32) - 128.0) * 256.0
    elif samples.dtype.kind == "f":
        samples = samples * INT16_SCALE
    samples = samples.reshape(len(samples), -1)
    first = seconds_to_samples(start, rate)
    samples = samples[first:seconds_to_samples(end, rate) if end >= 0 else None]
    return samples.astype(np.float32), int(rate)


def _one_channel(frames: np.ndarray, rxfilename: str, where: str,
                 channel: int | None) -> torch.Tensor:
    """(S, C) -> (S,): the only channel, or the chosen one; never a silent downmix."""
    num = frames.shape[1]
    if frames.shape[0] == 0:
        raise DataError(f"{where}: audio '{rxfilename}' is empty")
    if channel is None and num != 1:
        sox = f"sox {'FILE' if is_pipe(rxfilename) else rxfilename} -t wav - remix 1 |"
        raise DataError(f"{where}: audio '{rxfilename}' has {num} channels; asr reads mono and "
                        f"never downmixes: choose one with 'asr transcribe --channel N' "
                        f"(0..{num - 1}), or in a data dir's wav.scp, e.g. '{sox}' (sox "
                        "counts from 1; docs/interop.md, 'Audio formats')")
    if channel is not None and not 0 <= channel < num:
        raise DataError(f"{where}: channel {channel} was asked for but audio '{rxfilename}' "
                        f"has {num} channel(s), numbered from 0")
    return torch.from_numpy(np.ascontiguousarray(frames[:, channel or 0]))


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
