"""What the compiled CTC prefix beam search takes for shallow fusion: flat arrays.

An n-gram LM is a trie of nodes in open-addressing hash tables (key parent * V + word),
each node with its natural-log probability, backoff weight, suffix link and order; words
and tokens are matched by a 64-bit rolling hash of their characters, so any tokenization
of a word finds the same LM entry. :mod:`asr.lm.fusion` builds these tables from an ARPA
model; :func:`no_fusion` is the empty set that searches without an LM.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from asr.functional._beam_kernel import LM_NONE, LM_TOKEN, LM_WORD, hash_insert
from asr.functional._hash_kernel import hash_find_many, hash_insert_many, trie_walk

__all__ = ["HASH_BASE", "LM_NONE", "LM_TOKEN", "LM_WORD", "OOV_LOGP", "FusionTables",
           "as_int64", "char_hash", "empty_hash_table", "hash_find_many", "hash_insert",
           "hash_insert_many", "no_fusion", "trie_walk"]

HASH_BASE = 1_000_003
MASK64 = (1 << 64) - 1
OOV_LOGP = math.log(1e-10)  # an LM without <unk> gives out-of-vocabulary words this log-prob


@dataclass
class FusionTables:
    """The LM as the compiled search reads it (all numpy arrays and scalars).

    mode: LM_NONE, LM_WORD (score a word when the next one starts, and at the end) or
    LM_TOKEN (score every token). lm: (keys, vals, logp, backoff, suffix, order, max order,
    vocab size, <unk> id, OOV log-prob). words: the (keys, vals) table from a word's
    character hash to its id. toks: per token (starts a word, hash multiplier, hash
    addend, characters, word id). weight and bonus: the fusion's LM weight and per-word
    insertion bonus; bos_state: the node of ``<s>``; eos_word: the id of ``</s>``.
    """

    mode: int
    lm: tuple
    words: tuple
    toks: tuple
    weight: float
    bonus: float
    bos_state: int
    eos_word: int

    @property
    def num_tokens(self) -> int:
        return len(self.toks[0])


def empty_hash_table(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(keys, vals) with room for ``size`` entries at load factor <= 0.5, all free (-1)."""
    cap = 1 << max(4, (2 * size).bit_length())
    return np.full(cap, -1, np.int64), np.full(cap, -1, np.int32)


def as_int64(h: int) -> np.int64:
    """An unsigned 64-bit hash as the int64 the tables store."""
    return np.uint64(h).astype(np.int64)


def char_hash(text: str) -> tuple[int, int]:
    """(HASH_BASE ** len(text), hash of text) mod 2**64: h' = h * mul + add appends text."""
    h, mul = 0, 1
    for ch in text:
        h = (h * HASH_BASE + ord(ch)) & MASK64
        mul = (mul * HASH_BASE) & MASK64
    return mul, h


@functools.cache
def no_fusion() -> FusionTables:
    """Empty tables: the search without an LM (same compiled code, LM branches skipped).
    Built once: the search only reads them."""
    keys, vals = empty_hash_table(1)
    empty_f, empty_i = np.zeros(1, np.float64), np.zeros(1, np.int32)
    lm = (keys, vals, empty_f, empty_f, empty_i, empty_i, 1, np.int64(1), -1, OOV_LOGP)
    toks = (np.zeros(1, np.bool_), np.ones(1, np.uint64), np.zeros(1, np.uint64), empty_i,
            empty_i)
    return FusionTables(LM_NONE, lm, (keys, vals), toks, 0.0, 0.0, 0, -1)
