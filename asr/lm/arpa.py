"""ARPA n-gram files: read, write, and score a sentence with Katz-style backoff (log10)."""

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
    lines = ["", "\\data\\"]
    lines += [f"ngram {k + 1}={len(g)}" for k, g in enumerate(model.ngrams)]
    for k, grams in enumerate(model.ngrams):
        lines += ["", f"\\{k + 1}-grams:"]
        for g, (p, bo) in sorted(grams.items()):
            has_bo = k + 1 < model.order and bo != 0.0
            lines.append(f"{p:.6f}\t{' '.join(g)}" + (f"\t{bo:.6f}" if has_bo else ""))
    lines += ["", "\\end\\", ""]
    atomic_write_text(Path(path), "\n".join(lines))


def read_arpa(path: Path) -> ArpaModel:
    """Parse an ARPA file; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: LM file not found")
    counts: list[int] = []
    model = ArpaModel()
    section = None  # None: before \data\, 0: in \data\, k: in \k-grams:
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            where = f"{path}:{lineno}"
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as e:
                raise DataError(f"{where}: not valid UTF-8 ({e.reason} at byte {e.start}); "
                                "not an ARPA file?") from None
            if not line:
                continue
            if line == "\\data\\":
                section = 0
            elif line == "\\end\\":
                break
            elif line.startswith("\\") and line.endswith("-grams:"):
                k = line[1:-len("-grams:")]
                if not k.isdigit() or int(k) != model.order + 1 or int(k) > len(counts):
                    raise DataError(f"{where}: unexpected section {line!r}")
                model.ngrams.append({})
                section = int(k)
            elif section == 0 and line.startswith("ngram "):
                try:
                    k, n = line[len("ngram "):].split("=")
                    counts.append(int(n))
                except ValueError:
                    raise DataError(f"{where}: bad count line {line!r}") from None
            elif section:
                parts = line.split()
                if len(parts) not in (section + 1, section + 2):
                    raise DataError(f"{where}: expected log10 prob, {section} words and an "
                                    f"optional backoff, got {line!r}")
                try:
                    p = float(parts[0])
                    bo = float(parts[section + 1]) if len(parts) == section + 2 else 0.0
                except ValueError:
                    raise DataError(f"{where}: bad number in {line!r}") from None
                model.ngrams[-1][tuple(parts[1:section + 1])] = (p, bo)
            else:
                raise DataError(f"{where}: not an ARPA file (expected \\data\\, got {line!r})")
    if not model.ngrams:
        raise DataError(f"{path}: no n-grams (not an ARPA file?)")
    for k, (want, grams) in enumerate(zip(counts, model.ngrams, strict=False)):
        if want != len(grams):
            raise DataError(f"{path}: header says {want} {k + 1}-grams, found {len(grams)}")
    if (EOS,) not in model.ngrams[0]:
        raise DataError(f"{path}: the LM has no {EOS} unigram")
    return model
