"""Noise and room impulse response collections for augmentation: listed and checked once
when training starts, their audio loaded lazily and kept in each process that uses them.

A source is a Kaldi data dir (its wav.scp, with segments if it has them), a folder
searched recursively for audio files (MUSAN's ``noise/``, RIRS_NOISES'
``simulated_rirs/``, Speech Commands' ``_background_noise_``) or one audio file.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import soundfile
import torch

from asr.data.audio import load_audio, resample
from asr.data.kaldi_dir import DataDir, is_pipe
from asr.errors import DataError

AUDIO_SUFFIXES = (".wav", ".flac")
# Per process (each DataLoader worker has its own): 128 MiB of float32, 35 min at 16 kHz.
# Speech Commands' noise (6 min) or a few thousand RIRs stay in memory; MUSAN's 6 h of
# noise streams through it, a file read per miss.
CACHE_SAMPLES = 2 ** 25

Entry = tuple[str, str, float, float]  # name, wav.scp rxfilename, start s, end s (-1)


def list_audio(source: Path, what: str, allow_pipes: bool = True) -> list[Entry]:
    """Every recording of ``source`` (data dir, folder or file), in a stable order."""
    source = Path(source)
    if (source / "wav.scp").is_file():
        d = DataDir.load(source, allow_pipes)
        entries = [(u, *d.audio_of(u)) for u in d.utt_ids]
    elif source.is_dir():
        files = sorted(p for p in source.rglob("*")
                       if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        entries = [(str(p.relative_to(source)), str(p), 0.0, -1.0) for p in files]
    elif source.is_file() and source.suffix.lower() in AUDIO_SUFFIXES:
        entries = [(source.name, str(source), 0.0, -1.0)]
    else:
        raise DataError(f"{what} source not found: {source} (expected a data dir with "
                        "wav.scp, a folder of audio files or an audio file)")
    if not entries:
        raise DataError(f"{what} source {source}: no audio in it (no wav.scp, and no "
                        f"{'/'.join(AUDIO_SUFFIXES)} files in it or below it)")
    return entries


class AudioBank:
    """The recordings of one source at ``rate``, with a bounded cache of decoded audio.

    Plain files are checked at construction from their headers: sample rate (another rate
    is an error unless ``allow_resample``) and, with ``max_seconds``, duration. Pipes and
    ark entries are checked when first loaded. ``prepare(samples, name)`` runs once per
    load (RIRs are normalized there). The cache is not pickled: each DataLoader worker
    fills its own, once per file.
    """

    def __init__(self, source: str | Path, what: str, key: str, rate: int,
                 allow_resample: bool = False, max_seconds: float = 0.0,
                 prepare: Callable[[torch.Tensor, str], torch.Tensor] | None = None,
                 allow_pipes: bool = True):
        self.what, self.key, self.rate = what, key, rate
        self.allow_resample, self.max_seconds = allow_resample, max_seconds
        self.prepare, self.allow_pipes = prepare, allow_pipes
        self.entries = list_audio(Path(source), what, allow_pipes)
        self._cache: OrderedDict[int, torch.Tensor] = OrderedDict()
        self._cached = 0
        for _, rx, start, end in self.entries:
            if is_pipe(rx) or ".ark:" in rx:
                continue
            try:
                info = soundfile.info(rx)
            except Exception as e:  # soundfile raises several types
                raise DataError(f"{what} '{rx}': cannot read audio: {e}") from None
            stop = end if end >= 0 else info.frames / info.samplerate
            self._check(rx, info.samplerate, stop - start)

    def _check(self, rx: str, rate: int, seconds: float) -> None:
        if rate != self.rate and not self.allow_resample:
            raise DataError(f"{self.what} '{rx}' is {rate} Hz but the speech it goes with is "
                            f"{self.rate} Hz (resample it, or set data.augment.{self.key}."
                            "allow_resample: true; --allow-resample for 'asr augment-data')")
        if self.max_seconds and seconds > self.max_seconds:
            raise DataError(f"{self.what} '{rx}' is {seconds:.2f} s long, over the "
                            f"{self.max_seconds:g} s limit (max_rir_seconds): probably not "
                            "an impulse response")

    def __len__(self) -> int:
        return len(self.entries)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_cache": OrderedDict(), "_cached": 0}

    def get(self, index: int) -> torch.Tensor:
        """Recording ``index`` (S,) at ``rate``, int16 scale, prepared."""
        hit = self._cache.get(index)
        if hit is not None:
            self._cache.move_to_end(index)
            return hit
        name, rx, start, end = self.entries[index]
        samples, rate = load_audio(rx, name, start, end, self.allow_pipes)
        self._check(rx, rate, samples.numel() / rate)
        samples = resample(samples, rate, self.rate)
        if self.prepare is not None:
            samples = self.prepare(samples, rx)
        self._cache[index] = samples
        self._cached += samples.numel()
        while self._cached > CACHE_SAMPLES and len(self._cache) > 1:
            self._cached -= self._cache.popitem(last=False)[1].numel()
        return samples

    def pick(self, g: torch.Generator) -> torch.Tensor:
        """A recording drawn uniformly with ``g``."""
        return self.get(int(torch.randint(len(self.entries), (1,), generator=g)))

