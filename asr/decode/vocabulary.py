"""A closed vocabulary for :func:`asr.functional.ctc_vocabulary.ctc_vocabulary_search`,
read from a file of entries (one per line, repeats allowed: they give the prior)."""

from __future__ import annotations

import math
from collections import Counter
from functools import partial
from pathlib import Path

from asr.data.tokenizer import UNK, Tokenizer
from asr.errors import AsrError
from asr.functional.ctc_vocabulary import ctc_vocabulary_search


def read_vocabulary(path: Path, tokenizer: Tokenizer
                    ) -> tuple[list[str], list[list[int]], list[float]]:
    """(entries, their token ids, log relative frequency) of the distinct lines of
    ``path``, in first-seen order. An entry the tokenizer cannot spell is an error."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise AsrError(f"{path}: cannot read the vocabulary: {e}") from None
    counts = Counter(" ".join(line.split()) for line in lines if line.strip())
    if not counts:
        raise AsrError(f"{path}: the vocabulary is empty (one entry per line)")
    entries = list(counts)
    unk = tokenizer.tokens.index(UNK) if UNK in tokenizer.tokens else -1
    ids = []
    for lineno, entry in enumerate(entries, start=1):
        tokens = tokenizer.encode(entry)
        if not tokens or min(tokens) < 1 or unk in tokens:
            raise AsrError(f"{path}: entry '{entry}' (entry {lineno}) cannot be spelled with "
                           "the exp's tokens")
        ids.append(tokens)
    total = sum(counts.values())
    return entries, ids, [math.log(counts[e] / total) for e in entries]


def vocabulary_search(path: Path, tokenizer: Tokenizer, use_prior: bool):
    """The search over ``path``'s entries, with their frequencies as prior or uniform."""
    _, ids, log_prior = read_vocabulary(path, tokenizer)
    return partial(ctc_vocabulary_search, vocabulary=ids,
                   log_prior=log_prior if use_prior else None)
