"""Where the speech is in an utterance, from its frame energies alone (a two-threshold VAD).

CTC places a token where it is sure of it, not where its sound is: spikes are short and,
in a bidirectional model, often early (the digits BiLSTM emits a word's first letters
about 140 ms before the word). Speech segments found from energy give the sound's extent,
to which word times are snapped (:mod:`asr.decode.timing`). Thresholds are relative to
the utterance's own energy range (its 5th and 95th percentiles), so gain and noise floor
do not matter; a segment is a run over the low threshold that reaches the high one
(hysteresis keeps the weak onsets and endings of words, such as fricatives).
"""

from __future__ import annotations

import numpy as np

HIGH = 0.25  # a segment reaches this fraction of the energy range above its floor
LOW = 0.1    # and extends while over this one
MIN_GAP = 3  # frames: shorter pauses are inside a segment
MIN_SPEECH = 3  # frames: shorter bursts are not speech


def frame_energy(feats: np.ndarray) -> np.ndarray:
    """A loudness per frame of log-mel fbank features (T, D) -> (T,): their mean."""
    return np.asarray(feats, np.float64).mean(axis=1)


def speech_segments(energy: np.ndarray, high: float = HIGH, low: float = LOW,
                    min_gap: int = MIN_GAP, min_speech: int = MIN_SPEECH
                    ) -> list[tuple[int, int]]:
    """Speech segments [start, end) in frames of a (T,) energy (any log scale); the whole
    utterance when its energy is flat (all speech, or none)."""
    e = np.asarray(energy, np.float64)
    if e.size == 0:
        return []
    floor, top = np.percentile(e, 5), np.percentile(e, 95)
    if top - floor < 1e-6:
        return [(0, int(e.size))]
    strong = e > floor + high * (top - floor)
    weak = e > floor + low * (top - floor)
    segments: list[list[int]] = []
    for start, end in _runs(weak):
        if not strong[start:end].any():
            continue
        if segments and start - segments[-1][1] < min_gap:
            segments[-1][1] = end
        else:
            segments.append([start, end])
    return [(s, e) for s, e in segments if e - s >= min_speech]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
