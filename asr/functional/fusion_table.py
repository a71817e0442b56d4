"""What the compiled CTC prefix beam search takes for shallow fusion: records of arrays.

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
from typing import NamedTuple

import numpy as np

from asr.functional._beam_kernel import LM_NONE, LM_TOKEN, LM_WORD
from asr.functional._hash_kernel import hash_find_many, hash_insert_many, trie_walk
from asr.functional._hash_table import hash_insert

__all__ = ["HASH_BASE", "LM_NONE", "LM_TOKEN", "LM_WORD", "OOV_LOGP", "FusionTables",
           "NgramTables", "TokenTables", "as_int64", "char_hash", "empty_hash_table",
           "hash_find_many", "hash_insert", "hash_insert_many", "no_fusion", "trie_walk"]

HASH_BASE = 1_000_003
MASK64 = (1 << 64) - 1
OOV_LOGP = math.log(1e-10)  # an LM without <unk> gives out-of-vocabulary words this log-prob


class NgramTables(NamedTuple):
    """An n-gram LM as the compiled search reads it (built by
    :func:`asr.lm.ngram_tables.build_ngram_tables`, stored by :mod:`asr.lm.compiled_lm`).

    keys (C,) int64 / vals (C,) int32: the trie's hash table (C a power of two, load
    <= 0.5), key parent * vocab_size + word; logp, backoff (M,) float64: natural-log
    probability and backoff per node (M = 1 + number of n-grams); suffix, order (M,) int32:
    suffix link and n-gram order per node; word_keys (C',) int64 / word_vals (C',) int32:
    a word's character hash -> its id. Scalars: max_order, vocab_size, bos_state (the node
    of ``<s>``), eos_word (the id of ``</s>``); set by the fusion, not stored: unk_word
    (the id of the tokenizer's ``<unk>``, -1: none) and oov_logp (the log-prob of a word
    the LM does not know when it has no ``<unk>``).
    """

    keys: np.ndarray
    vals: np.ndarray
    logp: np.ndarray
    backoff: np.ndarray
    suffix: np.ndarray
    order: np.ndarray
    word_keys: np.ndarray
    word_vals: np.ndarray
    max_order: int
    vocab_size: int
    bos_state: int
    eos_word: int
    unk_word: int = -1
    oov_logp: float = OOV_LOGP

    @classmethod
    def array_names(cls) -> list[str]:
        """The arrays, in the order above (the fields before ``max_order``)."""
        return list(cls._fields[:cls._fields.index("max_order")])

    @classmethod
    def scalar_names(cls) -> list[str]:
        """The scalars a compiled LM file stores (the fusion sets the others)."""
        return ["max_order", "vocab_size", "bos_state", "eos_word"]

    @property
    def num_nodes(self) -> int:
        return len(self.logp)

    def word_ids(self, words: list[str]) -> np.ndarray:
        """LM ids of ``words`` (N,) int32, -1 for a word the LM does not have."""
        queries = np.array([as_int64(char_hash(w)[1]) for w in words], np.int64)
        return hash_find_many(self.word_keys, self.word_vals, queries)


class TokenTables(NamedTuple):
    """Per token, arrays (V,): whether it starts a word (bool), the uint64 multiplier and
    addend that append its characters to a word's hash, its character count, and its LM
    word id (int32, token-level fusion; -1: none)."""

    starts_word: np.ndarray
    mul: np.ndarray
    add: np.ndarray
    nchars: np.ndarray
    word: np.ndarray


@dataclass
class FusionTables:
    """An LM and a token list as the compiled search reads them.

    mode: LM_NONE, LM_WORD (score a word when the next one starts, and at the end) or
    LM_TOKEN (score every token). lm: the n-gram LM; toks: the per-token tables. weight
    and bonus: the fusion's LM weight and per-word insertion bonus.
    """

    mode: int
    lm: NgramTables
    toks: TokenTables
    weight: float
    bonus: float

    @property
    def num_tokens(self) -> int:
        return len(self.toks.starts_word)


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
    lm = NgramTables(keys, vals, empty_f, empty_f, empty_i, empty_i, keys, vals, 1, 1, 0, -1)
    toks = TokenTables(np.zeros(1, np.bool_), np.ones(1, np.uint64), np.zeros(1, np.uint64),
                       empty_i, empty_i)
    return FusionTables(LM_NONE, lm, toks, 0.0, 0.0)
