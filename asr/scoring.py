"""Score hypotheses against references: Kaldi's %WER line, per-utterance alignments, and a
per-speaker table (as sclite's ``.sys`` report) when utt2spk is given; word times of a CTM
against a reference CTM, and its word confidences against the transcripts."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from asr.data.ctm import CtmWord
from asr.errors import DataError
from asr.functional.edit_distance import EPS, ErrorCounts, align


def units(text: str, cer: bool) -> list[str]:
    """Words, or characters without spaces for CER."""
    return list("".join(text.split())) if cer else text.split()


@dataclass
class ScoreReport:
    counts: ErrorCounts
    per_utt: list[tuple[str, ErrorCounts, list[tuple[str, str]]]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # refs with no hypothesis
    cer: bool = False

    def summary(self) -> str:
        """Kaldi's line: ``%WER 1.23 [ 12 / 975, 3 ins, 4 del, 5 sub ]``."""
        c = self.counts
        name = "%CER" if self.cer else "%WER"
        return (f"{name} {c.rate:.2f} [ {c.errors} / {c.ref_tokens}, "
                f"{c.ins} ins, {c.dels} del, {c.subs} sub ]")

    def speaker_table(self, utt2spk: Mapping[str, str]) -> str:
        """One row per speaker: utterances, reference words, %WER, S, I, D; then the sum."""
        rows: dict[str, tuple[int, ErrorCounts]] = {}
        for utt, c, _ in self.per_utt:
            spk = utt2spk.get(utt)
            if spk is None:
                raise DataError(f"utterance '{utt}' is not in the utt2spk file")
            n, acc = rows.get(spk, (0, ErrorCounts()))
            acc += c
            rows[spk] = (n + 1, acc)
        unit = "chars" if self.cer else "words"
        name = "%CER" if self.cer else "%WER"
        lines = [f"{'speaker':<16} {'#utts':>6} {'#' + unit:>7} {name:>7} {'S':>5} {'I':>5} "
                 f"{'D':>5}"]
        for spk, (n, c) in sorted(rows.items()) + [("SUM", (len(self.per_utt), self.counts))]:
            lines.append(f"{spk:<16} {n:>6} {c.ref_tokens:>7} {c.rate:>7.2f} {c.subs:>5} "
                         f"{c.ins:>5} {c.dels:>5}")
        return "\n".join(lines) + "\n"

    def render(self, utt2spk: Mapping[str, str] | None = None) -> str:
        """The summary line, the per-speaker table (with ``utt2spk``), then alignments."""
        lines = [self.summary()]
        if utt2spk is not None:
            lines.append(self.speaker_table(utt2spk).rstrip("\n"))
        if self.missing:
            lines.append(f"# {len(self.missing)} reference utterances had no hypothesis "
                         f"(scored as deletions), e.g. {self.missing[0]}")
        for utt, c, pairs in self.per_utt:
            lines.append(f"{utt} ref  {' '.join(r for r, _ in pairs)}")
            lines.append(f"{utt} hyp  {' '.join(h for _, h in pairs)}")
            ops = ["C" if r == h else "S" if r != "***" and h != "***" else
                   ("D" if h == "***" else "I") for r, h in pairs]
            lines.append(f"{utt} op   {' '.join(ops)}")
            lines.append(f"{utt} #csid {len(pairs) - c.errors} {c.subs} {c.ins} {c.dels}")
        return "\n".join(lines) + "\n"


def score(refs: Mapping[str, str], hyps: Mapping[str, str], cer: bool = False) -> ScoreReport:
    """Align every reference utterance with its hypothesis (missing = empty)."""
    report = ScoreReport(ErrorCounts(), cer=cer)
    for utt in sorted(refs):
        if utt not in hyps:
            report.missing.append(utt)
        c, pairs = align(units(refs[utt], cer), units(hyps.get(utt, ""), cer))
        report.counts += c
        report.per_utt.append((utt, c, pairs))
    return report


@dataclass
class TimingReport:
    """Word boundary errors of a hypothesis CTM against a reference one, over the words
    the edit-distance alignment of the two word sequences matches (same word)."""

    errors_ms: list[float]  # |start difference| and |end difference| of every matched word
    matched: int
    ref_words: int

    def summary(self) -> str:
        if not self.errors_ms:
            return f"boundary error: no matched words (of {self.ref_words})"
        e = sorted(self.errors_ms)
        p95 = e[min(len(e) - 1, int(math.ceil(0.95 * len(e))) - 1)]
        return (f"boundary error: mean {sum(e) / len(e):.1f} ms, 95th percentile {p95:.1f} ms, "
                f"max {e[-1]:.1f} ms over {len(e)} boundaries ({self.matched} of "
                f"{self.ref_words} reference words matched)")


def score_timing(ref: Mapping[str, list[CtmWord]], hyp: Mapping[str, list[CtmWord]]
                 ) -> TimingReport:
    """Boundary errors of ``hyp`` against ``ref`` (utterance -> words in time order)."""
    errors: list[float] = []
    matched = total = 0
    for utt, ref_words in ref.items():
        total += len(ref_words)
        hyp_words = hyp.get(utt, [])
        for i, j in _matches([w.word for w in ref_words], [w.word for w in hyp_words]):
            r, h = ref_words[i], hyp_words[j]
            errors += [abs(h.start - r.start) * 1000, abs(h.end - r.end) * 1000]
            matched += 1
    return TimingReport(errors, matched, total)


@dataclass
class ConfidenceReport:
    """How well word confidences separate correct from wrong hypothesis words: ROC AUC
    (0.5: no better than chance) and normalized cross entropy (NIST's NCE: 0 no better
    than the constant rate of correct words, 1 perfect, negative worse)."""

    auc: float
    nce: float
    correct: int
    words: int

    def summary(self) -> str:
        return (f"confidence: AUC {self.auc:.3f}, NCE {self.nce:.3f} over {self.words} "
                f"words, {self.correct} correct")


def score_confidence(refs: Mapping[str, str], hyp: Mapping[str, list[CtmWord]]
                     ) -> ConfidenceReport:
    """Each hypothesis word is correct when the alignment to its reference matches it."""
    conf: list[float] = []
    right: list[bool] = []
    for utt, words in hyp.items():
        if utt not in refs:
            raise DataError(f"utterance '{utt}' of the CTM has no reference transcript")
        ok = {j for _, j in _matches(refs[utt].split(), [w.word for w in words])}
        for j, w in enumerate(words):
            if w.conf is None:
                raise DataError(f"utterance '{utt}': word '{w.word}' has no confidence")
            conf.append(w.conf)
            right.append(j in ok)
    return ConfidenceReport(_auc(conf, right), _nce(conf, right), sum(right), len(right))


def _matches(ref: list[str], hyp: list[str]) -> list[tuple[int, int]]:
    """(ref index, hyp index) of the words the edit-distance alignment pairs as equal."""
    out, i, j = [], 0, 0
    for r, h in align(ref, hyp)[1]:
        if r != EPS and h != EPS and r == h:
            out.append((i, j))
        i += r != EPS
        j += h != EPS
    return out


def _auc(scores: list[float], positive: list[bool]) -> float:
    """ROC AUC by ranks (ties count half): P(score of a right word > a wrong one's)."""
    pos = [s for s, p in zip(scores, positive, strict=True) if p]
    neg = [s for s, p in zip(scores, positive, strict=True) if not p]
    if not pos or not neg:
        return float("nan")
    neg.sort()
    total = 0.0
    for s in pos:
        lo, hi = bisect.bisect_left(neg, s), bisect.bisect_right(neg, s)
        total += lo + 0.5 * (hi - lo)
    return total / (len(pos) * len(neg))


def _nce(conf: list[float], right: list[bool]) -> float:
    """NIST's normalized cross entropy of confidences against correctness."""
    n, c = len(right), sum(right)
    if n == 0 or c in (0, n):
        return float("nan")
    pc = c / n
    h_max = -c * math.log2(pc) - (n - c) * math.log2(1 - pc)
    eps = 1e-10
    h = sum(math.log2(min(max(p, eps), 1 - eps)) if r else math.log2(1 - min(max(p, eps), 1 - eps))
            for p, r in zip(conf, right, strict=True))
    return (h_max + h) / h_max
