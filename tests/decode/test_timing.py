"""Hypothesis times: output frames to seconds through the model's window, tokens grouped
into words by the word mark (char and sentencepiece alike), confidences from the peaks."""

import pytest
import torch

from asr.data.tokenizer import BLANK, SPACE, UNK, CharTokenizer
from asr.decode.timing import FrameClock, HypothesisTimer

TOKENS = [BLANK, UNK, SPACE, "A", "B", "C"]


def peaky(labels: list[int], v: int = len(TOKENS), p: float = 0.9) -> torch.Tensor:
    """Log-probs (T, V) whose most likely label per frame is ``labels``."""
    lp = torch.full((len(labels), v), (1 - p) / (v - 1))
    lp[torch.arange(len(labels)), torch.tensor(labels)] = p
    return lp.log()


def test_frame_clock_centres_frames_in_their_window():
    # 4x subsampling, 7 input frames seen, 10 ms shift, 25 ms frames
    c = FrameClock(stride=4, field=7, shift=0.01, length=0.025)
    assert c.centre(0) == pytest.approx(0.03 + 0.0125)
    assert c.centre(10) - c.centre(9) == pytest.approx(0.04)
    start, end = c.span(2, 5)
    assert start == pytest.approx(c.centre(2) - 0.02) and end == pytest.approx(c.centre(4) + 0.02)
    assert c.span(0, 1)[0] >= 0.0


def test_words_span_their_tokens_and_take_the_lowest_confidence():
    tok = CharTokenizer(TOKENS)
    clock = FrameClock(stride=1, field=1, shift=0.01, length=0.0)
    labels = [0, 3, 3, 4, 0, 2, 0, 0, 5, 0]   # "AB C": A at 1-2, B at 3, space, C at 8
    lp = peaky(labels)
    lp[3] = peaky([4], p=0.6)[0]             # B less sure
    timed = HypothesisTimer(tok, clock, "prob")(lp, tok.encode("AB C"))
    assert [w.word for w in timed.words] == ["AB", "C"]
    ab, c = timed.words
    assert (ab.start, ab.end) == pytest.approx((0.005, 0.035)) and \
        (c.start, c.end) == pytest.approx((0.075, 0.085))
    assert ab.conf == pytest.approx(0.6) and c.conf == pytest.approx(0.9)
    assert [t.token for t in timed.tokens] == ["A", "B", SPACE, "C"]
    assert timed.path_logp == pytest.approx(float(lp[torch.arange(10), torch.tensor(labels)].sum()))


def test_sentencepiece_marks_start_words():
    class Pieces:
        tokens = [BLANK, UNK, SPACE + "AB", "C", SPACE + "D"]

        def decode(self, ids):
            return "".join(self.tokens[i] for i in ids).replace(SPACE, " ").strip()

    clock = FrameClock(stride=1, field=1, shift=0.01, length=0.0)
    lp = peaky([2, 0, 3, 0, 4, 0], v=5)
    timed = HypothesisTimer(Pieces(), clock)(lp, [2, 3, 4])
    assert [w.word for w in timed.words] == ["ABC", "D"]


def test_an_empty_hypothesis_has_no_words():
    tok = CharTokenizer(TOKENS)
    timed = HypothesisTimer(tok, FrameClock(1, 1, 0.01, 0.0))(peaky([0, 0, 0]), [])
    assert timed.words == [] and timed.tokens == []


def test_words_move_onto_the_speech_their_spikes_overlap():
    from asr.data.ctm import CtmWord
    from asr.decode.timing import snap_to_speech

    segments = [(0.20, 0.60), (0.80, 1.40), (1.60, 1.90)]
    early = [CtmWord("A", 0.10, 0.45, 0.9), CtmWord("B", 0.70, 0.95, 0.8),
             CtmWord("C", 1.10, 1.30, 0.7), CtmWord("D", 1.50, 1.70, 0.6)]
    out = snap_to_speech(early, segments)
    assert [(w.word, w.start, w.end, w.conf) for w in out] == [
        ("A", 0.20, 0.60, 0.9), ("B", 0.80, pytest.approx(1.025), 0.8),
        ("C", pytest.approx(1.025), 1.40, 0.7), ("D", 1.60, 1.90, 0.6)]
    assert snap_to_speech([], segments) == [] and snap_to_speech(early, []) == early


def test_speech_timing_uses_the_features_energy():
    tok = CharTokenizer(TOKENS)
    clock = FrameClock(stride=1, field=1, shift=0.01, length=0.01)
    labels = [0, 3, 0, 0, 0, 0, 0, 0, 0, 0]   # "A" spikes at frame 1 ...
    feats = torch.zeros(10, 4)
    feats[4:8] = 10.0                          # ... but is spoken in frames 4-7
    spikes = HypothesisTimer(tok, clock, timing="spikes")(peaky(labels), [3], feats)
    speech = HypothesisTimer(tok, clock, timing="speech")(peaky(labels), [3], feats)
    assert (spikes.words[0].start, spikes.words[0].end) == pytest.approx((0.01, 0.02))
    assert (speech.words[0].start, speech.words[0].end) == pytest.approx((0.04, 0.08))
