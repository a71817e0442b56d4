"""ARPA n-gram models in memory: score a sentence with Katz-style backoff (log10), write the
file; reading one is :func:`asr.lm.arpa_arrays.read_arpa_arrays`, into flat arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from asr.atomic_io import atomic_write_text
from asr.errors import DataError

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
Ngram = tuple[str, ...]


@dataclass
class ArpaModel:
    """n-grams per order: ``ngrams[k - 1][(w1, ..., wk)] = (log10 p, log10 backoff)``."""

    ngrams: list[dict[Ngram, tuple[float, float]]] = field(default_factory=list)

    @property
    def order(self) -> int:
        return len(self.ngrams)

    @property
    def vocab(self) -> list[str]:
        return [g[0] for g in self.ngrams[0]]

    def logprob(self, word: str, history: Sequence[str]) -> float:
        """log10 P(word | history) with backoff; an unknown word is scored as <unk>."""
        if (word,) not in self.ngrams[0]:
            if (UNK,) not in self.ngrams[0]:
                raise DataError(f"'{word}' is not in the LM and the LM has no {UNK}")
            word = UNK
        history = tuple(history[len(history) - self.order + 1:]) if self.order > 1 else ()
        backoff = 0.0
        for start in range(len(history) + 1):
            h = history[start:]
            g = self.ngrams[len(h)].get((*h, word))
            if g is not None:
                return backoff + g[0]
            ctx = self.ngrams[len(h) - 1].get(h) if h else None
            backoff += ctx[1] if ctx is not None else 0.0
        raise AssertionError("unreachable: the unigram always exists")

    def sentence_logprob(self, words: Sequence[str]) -> float:
        """log10 P(words </s> | <s>)."""
        seq = [BOS, *words, EOS]
        return sum(self.logprob(w, seq[:i]) for i, w in enumerate(seq) if i > 0)


def write_arpa(path: Path, model: ArpaModel) -> None:
    """Write ``model`` as an ARPA file, n-grams sorted, log10 values to 6 decimals, atomically."""
    lines = ["", "\\data\\"]
    lines += [f"ngram {k + 1}={len(g)}" for k, g in enumerate(model.ngrams)]
    for k, grams in enumerate(model.ngrams):
        lines += ["", f"\\{k + 1}-grams:"]
        for g, (p, bo) in sorted(grams.items()):
            has_bo = k + 1 < model.order and bo != 0.0
            lines.append(f"{p:.6f}\t{' '.join(g)}" + (f"\t{bo:.6f}" if has_bo else ""))
    lines += ["", "\\end\\", ""]
    atomic_write_text(Path(path), "\n".join(lines))
