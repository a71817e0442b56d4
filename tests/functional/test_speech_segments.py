"""Speech segments from frame energy: found whatever the gain and floor, weak edges kept
by the low threshold, short pauses bridged, short bursts dropped."""

import numpy as np
import pytest

from asr.functional.speech_segments import speech_segments


def energy(pattern: list[tuple[int, float]], gain: float = 0.0) -> np.ndarray:
    """(frames, level) runs, plus a little noise, shifted by ``gain``."""
    e = np.concatenate([np.full(n, level) for n, level in pattern])
    return e + gain + np.random.default_rng(0).normal(0, 0.05, e.size)


@pytest.mark.parametrize("gain", [-30.0, 0.0, 12.0])
def test_segments_are_where_the_loud_frames_are_at_any_gain(gain):
    e = energy([(20, 0), (30, 10), (15, 0), (25, 10), (20, 0)], gain)
    assert speech_segments(e) == [(20, 50), (65, 90)]


def test_weak_edges_stay_short_gaps_bridge_bursts_drop():
    # a weak onset (level 2: over LOW, under HIGH) before the word is kept
    e = energy([(20, 0), (5, 2), (30, 10), (20, 0)])
    assert speech_segments(e) == [(20, 55)]
    # a 2-frame pause inside a word is bridged; a 2-frame click is not speech
    e = energy([(20, 0), (10, 10), (2, 0), (10, 10), (20, 0), (2, 10), (20, 0)])
    assert speech_segments(e) == [(20, 42)]
    # weak alone (never reaching HIGH) is not speech
    e = energy([(20, 0), (10, 2), (20, 0), (10, 10), (20, 0)])
    assert speech_segments(e) == [(50, 60)]


def test_flat_energy_is_one_segment_and_nothing_is_none():
    assert speech_segments(np.full(40, 3.0)) == [(0, 40)]
    assert speech_segments(np.zeros(0)) == []
