"""Train an interpolated Witten-Bell n-gram model and express it as an ARPA backoff model.

Witten-Bell: P(w | h) = (c(h, w) + N1+(h .) P(w | h')) / (c(h) + N1+(h .)), where
N1+(h .) counts the distinct words seen after h and h' drops the oldest word. For a
seen n-gram that is the ARPA probability; an unseen one gets bo(h) P(w | h') with
bo(h) = N1+(h .) / (c(h) + N1+(h .)), so the ARPA file is exactly normalized. The
unigrams interpolate with a uniform distribution over the vocabulary plus </s> and
<unk>, so every word has a probability. Witten-Bell needs no count-of-counts
(Kneser-Ney's discounts are unstable on the tiny texts of small recipes).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable

from asr.errors import DataError
from asr.lm.arpa import BOS, EOS, UNK, ArpaModel, Ngram

NEVER = -99.0  # ARPA's log10 probability of <s>: a context, never predicted


def train_witten_bell(sentences: Iterable[list[str]], order: int) -> ArpaModel:
    """An ``order``-gram model of the word (or token) sequences in ``sentences``."""
    if order < 1:
        raise DataError(f"the n-gram order must be >= 1, got {order}")
    counts: list[Counter[Ngram]] = [Counter() for _ in range(order)]
    for words in sentences:
        seq = [BOS, *words, EOS]
        for i in range(1, len(seq)):
            for k in range(1, order + 1):
                if i - k + 1 >= 0:
                    counts[k - 1][tuple(seq[i - k + 1:i + 1])] += 1
    if not counts[0]:
        raise DataError("no training text for the n-gram model")
    # per history: total count c(h) and distinct followers N1+(h .)
    total: list[dict[Ngram, int]] = [defaultdict(int) for _ in range(order)]
    distinct: list[dict[Ngram, int]] = [defaultdict(int) for _ in range(order)]
    for k in range(order):
        for g, c in counts[k].items():
            total[k][g[:-1]] += c
            distinct[k][g[:-1]] += 1

    vocab = sorted({g[0] for g in counts[0]} | {EOS, UNK})
    prob: list[dict[Ngram, float]] = [{} for _ in range(order)]
    c0, n0 = total[0][()], distinct[0][()]
    for w in vocab:
        prob[0][(w,)] = (counts[0][(w,)] + n0 / len(vocab)) / (c0 + n0)
    for k in range(1, order):
        for g, c in counts[k].items():
            h = g[:-1]
            prob[k][g] = (c + distinct[k][h] * prob[k - 1][g[1:]]) / (total[k][h] + distinct[k][h])

    model = ArpaModel([{} for _ in range(order)])
    for k in range(order):
        for g, p in prob[k].items():
            bo = 0.0
            if k + 1 < order and g in total[k + 1]:
                bo = math.log10(distinct[k + 1][g] / (total[k + 1][g] + distinct[k + 1][g]))
            model.ngrams[k][g] = (math.log10(p), bo)
    bos_bo = (math.log10(distinct[1][(BOS,)] / (total[1][(BOS,)] + distinct[1][(BOS,)]))
              if order > 1 else 0.0)
    model.ngrams[0][(BOS,)] = (NEVER, bos_bo)
    return model
