"""Kaldi's fbank, computed step by step as torchaudio.compliance.kaldi.fbank does, with
the filterbank and window cached here.

Why our own: torchaudio rebuilds its mel filterbank and analysis window on every call,
two thirds of the time on 0.5 s utterances. Both depend only on the options, so caching
them here makes extraction about 2x faster without patching the library (which would
change torchaudio for the whole process). Every operation below is the one torchaudio
runs, in its order, so the features are bit-identical (tests compare with
``kaldi.fbank`` itself) for the options we expose: the povey window, DC offset removal,
FFT size rounded to a power of two, log power mel energies, no energy column.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from asr.data.torchaudio_lib import kaldi

_EPSILON = torch.tensor(torch.finfo(torch.float).eps)  # torchaudio's floor before the log


@functools.lru_cache(maxsize=32)
def povey_window(size: int) -> torch.Tensor:
    """(1, size) Kaldi's "povey" window: a Hann window to the power 0.85."""
    return torch.hann_window(size, periodic=False, dtype=torch.float32).pow(0.85).unsqueeze(0)


@functools.lru_cache(maxsize=32)
def mel_filterbank(num_bins: int, fft_size: int, rate: float, low: float, high: float,
                   vtln_warp: float = 1.0) -> torch.Tensor:
    """(num_bins, fft_size // 2 + 1) triangular mel filters over the power spectrum (the
    Nyquist bin gets weight 0, as in Kaldi); ``vtln_warp`` != 1 warps the frequency axis."""
    banks, _ = kaldi.get_mel_banks(num_bins, fft_size, rate, low, high, 100.0, -500.0,
                                   vtln_warp)
    return F.pad(banks.to(dtype=torch.float32), (0, 1), mode="constant", value=0)


def frames(samples: torch.Tensor, size: int, shift: int, snip_edges: bool) -> torch.Tensor:
    """(num_frames, size) strided view of mono ``samples`` (S,); without ``snip_edges``
    the signal is reflected at both ends and there are round(S / shift) frames."""
    n = samples.size(0)
    strides = (shift * samples.stride(0), samples.stride(0))
    if snip_edges:
        if n < size:
            return torch.empty((0, 0), dtype=samples.dtype)
        m = 1 + (n - size) // shift
    else:
        reversed_samples = torch.flip(samples, [0])
        m = (n + shift // 2) // shift
        pad = size // 2 - shift // 2
        if pad > 0:
            samples = torch.cat((reversed_samples[-pad:], samples, reversed_samples), dim=0)
        else:
            samples = torch.cat((samples[-pad:], reversed_samples), dim=0)
    return samples.as_strided((m, size), strides)


def fbank(samples: torch.Tensor, rate: float, num_mel_bins: int, frame_length_ms: float,
          frame_shift_ms: float, dither: float, preemphasis: float, low_freq: float,
          high_freq: float, snip_edges: bool, vtln_warp: float = 1.0) -> torch.Tensor:
    """Log mel filterbank energies (T, num_mel_bins) of mono float32 ``samples`` (S,) in
    int16 scale. ``dither`` draws from torch's global RNG, as torchaudio's does."""
    shift = int(rate * frame_shift_ms * 0.001)
    size = int(rate * frame_length_ms * 0.001)
    fft_size = 1 if size == 0 else 2 ** (size - 1).bit_length()
    x = frames(samples, size, shift, snip_edges)
    if dither != 0.0:
        x = x + torch.randn(x.shape, dtype=x.dtype) * dither
    x = x - torch.mean(x, dim=1).unsqueeze(1)  # remove the DC offset of each frame
    if preemphasis != 0.0:
        previous = F.pad(x.unsqueeze(0), (1, 0), mode="replicate").squeeze(0)
        x = x - preemphasis * previous[:, :-1]
    x = x * povey_window(size)
    if fft_size != size:
        x = F.pad(x.unsqueeze(0), (0, fft_size - size), mode="constant", value=0).squeeze(0)
    power = torch.fft.rfft(x).abs().pow(2.0)  # (T, fft_size // 2 + 1)
    mel = torch.mm(power, mel_filterbank(num_mel_bins, fft_size, rate, low_freq, high_freq,
                                         vtln_warp).T)
    return torch.max(mel, _EPSILON).log()
