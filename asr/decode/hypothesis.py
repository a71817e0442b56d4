"""What a decode knows about one utterance: the best token ids, and when asked for, the
n-best list with scores and the times and confidences of the best."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from asr.data.tokenizer import Tokenizer
from asr.decode.timing import Timed


@dataclass
class Hypothesis:
    """The best ids; ``score`` and ``nbest`` (ids, log-score) from an n-best search, best
    first; ``timed`` from a :class:`asr.decode.timing.HypothesisTimer`."""

    ids: list[int]
    score: float | None = None
    nbest: list[tuple[list[int], float]] | None = None
    timed: Timed | None = None

    @classmethod
    def of(cls, result: Sequence[int] | Sequence[tuple[Sequence[int], float]]) -> Hypothesis:
        """One utterance's search result: token ids, or an n-best list (ids, score)."""
        if result and isinstance(result[0], tuple):
            nbest = [(list(ids), float(score)) for ids, score in result]
            return cls(nbest[0][0], nbest[0][1], nbest)
        return cls([int(i) for i in result])

    def record(self, utt: str, tokenizer: Tokenizer) -> dict:
        """The JSON object of ``asr decode --json``: text, and what the decode knows
        beyond it (score, n-best texts with scores, token and word times (s) and
        confidences, the best path's log-probability)."""
        out: dict = {"utt": utt, "text": tokenizer.decode(self.ids)}
        if self.score is not None:
            out["score"] = round(self.score, 4)
        if self.nbest is not None:
            out["nbest"] = [{"text": tokenizer.decode(ids), "score": round(score, 4)}
                            for ids, score in self.nbest]
        if self.timed is not None:
            out["path_logp"] = round(self.timed.path_logp, 4)
            out["tokens"] = [{"token": t.token, "start": round(t.start, 3),
                              "end": round(t.end, 3), "conf": round(t.conf, 4)}
                             for t in self.timed.tokens]
            out["words"] = [{"word": w.word, "start": round(w.start, 3),
                             "end": round(w.end, 3), "conf": round(w.conf or 0.0, 4)}
                            for w in self.timed.words]
        return out
