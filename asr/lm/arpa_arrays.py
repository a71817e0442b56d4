"""An ARPA file as flat arrays, read in one streaming pass (no dict per n-gram).

The one ARPA parser: decoding builds its tables from these arrays. A Python dict entry
per n-gram (an :class:`asr.lm.arpa.ArpaModel`) takes about 700 bytes, gigabytes for a 3M
n-gram LM; here each k-gram is k int32 word ids and two float64 log-probs, appended to
compact arrays as the file streams by, so the memory is about the size of the final tables.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.errors import DataError
from asr.lm.arpa import EOS, ArpaModel


@dataclass
class NgramArrays:
    """The k-grams of one order: ids (N, k) int32 word ids (into ``ArpaArrays.vocab``),
    logp and backoff (N,) float64, both log10 as in the ARPA file (backoff 0 if absent)."""

    ids: np.ndarray
    logp: np.ndarray
    backoff: np.ndarray


@dataclass
class ArpaArrays:
    """``vocab``: the unigram words in file order (a word's id is its index);
    ``orders[k - 1]``: the k-grams in file order."""

    vocab: list[str]
    orders: list[NgramArrays]

    @property
    def order(self) -> int:
        return len(self.orders)

    @property
    def num_ngrams(self) -> int:
        return sum(len(o.logp) for o in self.orders)


def arrays_from_model(model: ArpaModel) -> ArpaArrays:
    """The arrays of an in-memory model (its dicts' order is the file order)."""
    vocab = model.vocab
    word_ids = {w: i for i, w in enumerate(vocab)}
    orders = []
    for k, grams in enumerate(model.ngrams):
        ids = np.empty((len(grams), k + 1), np.int32)
        for n, g in enumerate(grams):
            for j, w in enumerate(g):
                if w not in word_ids:
                    raise DataError(f"LM n-gram '{' '.join(g)}': '{w}' is not a unigram")
                ids[n, j] = word_ids[w]
        probs = np.array(list(grams.values()), np.float64).reshape(len(grams), 2)
        orders.append(NgramArrays(ids, probs[:, 0].copy(), probs[:, 1].copy()))
    return ArpaArrays(vocab, orders)


class _Section:
    """The k-grams of one section as they stream in: growable typed arrays."""

    def __init__(self, k: int):
        self.k = k
        self.ids = array("i")
        self.logp = array("d")
        self.backoff = array("d")

    def finish(self) -> NgramArrays:
        n = len(self.logp)
        return NgramArrays(np.frombuffer(self.ids, np.int32).reshape(n, self.k).copy(),
                           np.frombuffer(self.logp, np.float64).copy(),
                           np.frombuffer(self.backoff, np.float64).copy())


def _text(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError as e:
        raise DataError(f"{where}: not valid UTF-8 ({e.reason} at byte {e.start}); "
                        "not an ARPA file?") from None


def read_arpa_arrays(path: Path) -> ArpaArrays:
    """Parse an ARPA file into arrays; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: LM file not found")
    counts: list[int] = []
    sections: list[_Section] = []
    word_ids: dict[bytes, int] = {}  # keyed by the raw bytes: no decode per n-gram
    vocab: list[str] = []
    k = 0  # 0: before or in \data\, else the n-gram section being read
    in_data = False
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            parts = raw.split()
            if k and len(parts) in (k + 1, k + 2) and not parts[0].startswith(b"\\"):
                sec = sections[-1]
                try:
                    sec.logp.append(float(parts[0]))
                    sec.backoff.append(float(parts[k + 1]) if len(parts) == k + 2 else 0.0)
                except ValueError:
                    raise DataError(f"{path}:{lineno}: bad number in "
                                    f"{_text(raw, f'{path}:{lineno}')!r}") from None
                if k == 1:
                    word = parts[1]
                    if word in word_ids:
                        raise DataError(f"{path}:{lineno}: unigram {_text(word, '')!r} "
                                        "appears twice")
                    word_ids[word] = len(vocab)
                    vocab.append(_text(word, f"{path}:{lineno}"))
                    sec.ids.append(word_ids[word])
                    continue
                for w in parts[1:k + 1]:
                    i = word_ids.get(w)
                    if i is None:
                        raise DataError(f"{path}:{lineno}: word "
                                        f"{_text(w, f'{path}:{lineno}')!r} is not a unigram")
                    sec.ids.append(i)
                continue
            where = f"{path}:{lineno}"
            line = _text(raw, where)
            if not line:
                continue
            if line == "\\data\\":
                in_data = True
            elif line == "\\end\\":
                break
            elif line.startswith("\\") and line.endswith("-grams:"):
                order = line[1:-len("-grams:")]
                if not order.isdigit() or int(order) != k + 1 or int(order) > len(counts):
                    raise DataError(f"{where}: unexpected section {line!r}")
                k = int(order)
                sections.append(_Section(k))
            elif in_data and not k and line.startswith("ngram "):
                try:
                    counts.append(int(line[len("ngram "):].split("=")[1]))
                except (ValueError, IndexError):
                    raise DataError(f"{where}: bad count line {line!r}") from None
            elif k:
                raise DataError(f"{where}: expected log10 prob, {k} words and an optional "
                                f"backoff, got {line!r}")
            else:
                raise DataError(f"{where}: not an ARPA file (expected \\data\\, got {line!r})")
    if not sections:
        raise DataError(f"{path}: no n-grams (not an ARPA file?)")
    for order, (want, sec) in enumerate(zip(counts, sections, strict=False), start=1):
        if want != len(sec.logp):
            raise DataError(f"{path}: header says {want} {order}-grams, found {len(sec.logp)}")
    if EOS not in vocab:
        raise DataError(f"{path}: the LM has no {EOS} unigram")
    return ArpaArrays(vocab, [s.finish() for s in sections])
