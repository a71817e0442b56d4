"""Tempo change at the same pitch: WSOLA (Verhelst and Roelands, 1993), our own.

Why our own: torchaudio.functional has no tempo, its sox effects are gone from the
torchaudio we pin, and lhotse's ``Tempo`` calls those sox effects. WSOLA is short: cut the
input into Hann windows taken every ``factor x hop`` samples, overlap-add them every
``hop`` samples, and move each window by up to ``tol`` samples to where it continues the
previous one best (normalized cross-correlation), so pitch periods line up instead of
smearing. Plain numpy: deterministic, and the same in every process.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def tempo(samples: torch.Tensor, rate: int, factor: float) -> torch.Tensor:
    """(S,) audio played ``factor`` times faster at the same pitch -> (round(S / factor),).

    20 ms windows hold a few pitch periods and are shorter than a phone; the 10 ms
    tolerance covers one period of voices down to 100 Hz, enough to find a match.
    """
    if factor == 1.0:
        return samples
    if factor <= 0:
        raise ValueError(f"tempo factor must be > 0, got {factor}")
    hop = max(1, int(rate * 0.010))  # synthesis hop; Hann windows at 50% overlap sum to 1
    win, tol = 2 * hop, hop
    ana = hop * factor  # analysis hop
    out_len = int(round(samples.numel() / factor))
    frames = math.ceil(out_len / hop) + 2
    # input index i holds time i - tol - hop: frame k starts at time k * ana - hop, so its
    # centre (output time k * hop) reads input time k * hop * factor
    need = int((frames - 1) * ana) + 2 * tol + 2 * win
    x = np.zeros(max(need, tol + hop + samples.numel()), dtype=np.float64)
    x[tol + hop:tol + hop + samples.numel()] = samples.numpy()
    squares = np.concatenate([[0.0], np.cumsum(x * x)])
    window = np.hanning(win + 1)[:win]  # periodic Hann
    out = np.zeros(frames * hop + win, dtype=np.float64)
    start = tol  # frame 0 is not searched: there is nothing to continue
    for k in range(frames):
        if k:
            template = x[start + hop:start + hop + win]
            lo = int(round(k * ana))  # k * ana + tol - tol: the search region's first index
            corr = np.correlate(x[lo:lo + win + 2 * tol], template, mode="valid")
            energy = squares[lo + win:lo + win + 2 * tol + 1] - squares[lo:lo + 2 * tol + 1]
            start = lo + int(np.argmax(corr / np.sqrt(np.maximum(energy, 1e-9))))
        out[k * hop:k * hop + win] += window * x[start:start + win]
    return torch.from_numpy(out[hop:hop + out_len].astype(np.float32))
