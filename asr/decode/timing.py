"""Token and word times and confidences of a hypothesis, from the log-probs it came from.

The hypothesis's tokens are force-aligned to the utterance's log-probs
(:func:`asr.functional.ctc_align.ctc_align`), so greedy, prefix beam, an LM, hotwords and
streams all get their times the same way. Time of model output frame k: the centre of the
input frames it sees (its receptive field), frame k covering one output step (the
subsampling times the feature shift) around it. A token spans its aligned frames; a word
runs from the start of its first token to the end of its last one (``spikes``).

CTC spikes are short and often early (by 140 ms on average in the digits BiLSTM, with a
spread of 100 ms), so by default (``speech``) each word is then moved onto the speech
segment of the utterance (:func:`asr.functional.speech_segments.speech_segments`, from
the fbank energies) its spike span overlaps most, in order; words sharing a segment split
it halfway between their spike spans. docs/decoding.md measures both on real words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from asr.data.ctm import CtmWord
from asr.data.tokenizer import SPACE, Tokenizer
from asr.functional.confidence import Measure, frame_confidence
from asr.functional.ctc_align import TokenSpan, ctc_align
from asr.functional.speech_segments import frame_energy, speech_segments

if TYPE_CHECKING:
    from asr.exp.experiment import Experiment
    from asr.nn.model import CTCModel


@dataclass(frozen=True)
class TokenTime:
    """One token: its text, start and end (seconds) and confidence."""

    token: str
    start: float
    end: float
    conf: float


@dataclass(frozen=True)
class Timed:
    """A hypothesis with times: its words (for the CTM), tokens, and the log-probability of
    its best CTC path (its forced-alignment score)."""

    words: list[CtmWord]
    tokens: list[TokenTime]
    path_logp: float


@dataclass(frozen=True)
class FrameClock:
    """Seconds of model output frames: ``stride`` input frames per output frame,
    ``field`` input frames seen by one, ``shift`` and ``length`` of an input frame (s)."""

    stride: int
    field: int
    shift: float
    length: float

    def centre(self, frame: int) -> float:
        return (frame * self.stride + (self.field - 1) / 2) * self.shift + self.length / 2

    def span(self, start: int, end: int) -> tuple[float, float]:
        """Start and end (s) of output frames [start, end)."""
        half = self.stride * self.shift / 2
        return max(0.0, self.centre(start) - half), self.centre(end - 1) + half


Timing = Literal["speech", "spikes"]


@dataclass(frozen=True)
class TimingSpec:
    """How a decode times its words (``asr decode --word-times``) and measures their
    confidence (``--confidence``)."""

    measure: Measure = "prob"
    words: Timing = "speech"

    def timer(self, exp: Experiment, model: CTCModel) -> HypothesisTimer:
        """The timer of an exp's model: its frontend's window over the exp's fbank frames."""
        field, stride = model.frontend.time_window()
        clock = FrameClock(stride, field, exp.feats.frame_shift_ms / 1000,
                           exp.feats.frame_length_ms / 1000)
        return HypothesisTimer(exp.tokenizer, clock, self.measure, self.words)


class HypothesisTimer:
    """Times and confidences of hypotheses over one tokenizer and frame clock; ``timing``
    says how word spans are made (module docstring)."""

    def __init__(self, tokenizer: Tokenizer, clock: FrameClock, measure: Measure = "prob",
                 timing: Timing = "speech"):
        if timing not in ("speech", "spikes"):
            raise ValueError(f"unknown timing '{timing}' (speech, spikes)")
        self.tokenizer, self.clock, self.measure, self.timing = tokenizer, clock, measure, timing

    def __call__(self, log_probs: torch.Tensor, ids: Sequence[int],
                 feats: np.ndarray | torch.Tensor | None = None) -> Timed:
        """``ids`` aligned to their log_probs (T, V); ``feats``, the utterance's raw
        (unnormalized) fbank frames (T_in, D), place the words on its speech."""
        spans, logp, _ = ctc_align(log_probs, ids)
        conf = frame_confidence(log_probs, self.measure)
        tokens = [TokenTime(self.tokenizer.tokens[s.token], *self.clock.span(s.start, s.end),
                            float(conf[s.peak])) for s in spans]
        words = self._words(spans, tokens)
        if self.timing == "speech" and feats is not None and len(feats):
            energy = frame_energy(np.asarray(feats))
            c = self.clock  # an input frame owns the shift around its centre
            segments = [(max(0.0, a * c.shift + (c.length - c.shift) / 2),
                         (b - 1) * c.shift + (c.length + c.shift) / 2)
                        for a, b in speech_segments(energy)]
            words = snap_to_speech(words, segments)
        return Timed(words, tokens, logp)

    def _words(self, spans: list[TokenSpan], tokens: list[TokenTime]) -> list[CtmWord]:
        """Tokens grouped into words (a token starting with the word mark starts one; the
        mark alone only ends one), each word as the tokenizer spells it."""
        groups: list[list[int]] = []
        for i, t in enumerate(tokens):
            if t.token == SPACE:
                groups.append([])
            elif t.token.startswith(SPACE) or not groups:
                groups.append([i])
            else:
                groups[-1].append(i)
        words = []
        for g in groups:
            text = self.tokenizer.decode([spans[i].token for i in g]) if g else ""
            if not text.strip():
                continue
            words.append(CtmWord(text.strip(), tokens[g[0]].start, tokens[g[-1]].end,
                                 min(tokens[i].conf for i in g)))
        return words


def with_cut_silence(timed: Timed, kept: np.ndarray, shift: float, length: float) -> Timed:
    """``timed``, whose times count only the fbank frames kept, on the audio's own clock:
    ``kept`` (T,) is the index among all frames of each kept one (the rest were digital
    silence cut by fbank.silence_frames), frames ``shift`` apart and ``length`` long (s).
    A kept frame owns the ``shift`` around its centre; a start moves with the frame after
    it, an end with the frame before it, so a word never spans a cut it did not cover."""
    n, offset = len(kept), (length - shift) / 2

    def move(t: float, end: bool) -> float:
        u = (t - offset) / shift  # frame i owns [i, i + 1)
        j = min(max(math.ceil(u) - 1 if end else math.floor(u), 0), n - 1)
        return max(0.0, (kept[j] + u - j) * shift + offset)

    words = [CtmWord(w.word, move(w.start, False), move(w.end, True), w.conf)
             for w in timed.words]
    tokens = [TokenTime(t.token, move(t.start, False), move(t.end, True), t.conf)
              for t in timed.tokens]
    return Timed(words, tokens, timed.path_logp)


def snap_to_speech(words: list[CtmWord], segments: list[tuple[float, float]]
                   ) -> list[CtmWord]:
    """``words`` (spike spans, in order) moved onto ``segments`` (start, end in seconds, in
    order): each word to the segment after its predecessor's that its span overlaps most
    (or is nearest to); words sharing a segment split it halfway between their spans."""
    if not words or not segments:
        return words
    chosen, k0 = [], 0
    for w in words:
        overlaps = [min(b, w.end) - max(a, w.start) for a, b in segments[k0:]]
        k0 += int(np.argmax(overlaps))
        chosen.append(k0)
    out = []
    for i, (w, k) in enumerate(zip(words, chosen, strict=True)):
        start, end = segments[k]
        if i > 0 and chosen[i - 1] == k:
            start = max(start, (words[i - 1].end + w.start) / 2)
        if i + 1 < len(words) and chosen[i + 1] == k:
            end = min(end, (w.end + words[i + 1].start) / 2)
        out.append(CtmWord(w.word, start, max(start, end), w.conf))
    return out
