"""An ARPA model as flat arrays for the compiled beam search (shallow fusion).

The n-grams become a trie: node 0 is the empty history, node (w1..wk) is the child of
node (w1..wk-1) under wk, found through a hash table keyed by parent * V + word. Each
node has its natural-log probability, backoff weight, order and a suffix link (the
node of w2..wk), which is all that backoff scoring needs.

Word-level fusion scores a word when the next word starts (a ``▁`` token, or a
sentencepiece piece starting with ``▁``) and at the utterance end. The pending word is
kept as a 64-bit rolling hash of its characters, so any tokenization of a word finds
the same LM entry. Token-level fusion scores every token as it is appended.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from asr.data.tokenizer import SPACE, UNK
from asr.errors import AsrError
from asr.functional._beam_kernel import LM_NONE, LM_TOKEN, LM_WORD, hash_insert
from asr.lm.arpa import BOS, EOS, ArpaModel

LN10 = math.log(10.0)
HASH_BASE = 1_000_003
MASK64 = (1 << 64) - 1
OOV_LOGP = math.log(1e-10)  # an LM without <unk> gives out-of-vocabulary words this log-prob
UNK_CHAR = "\U0010ffff"  # the <unk> token's "character": no LM word contains it


def _table(size: int) -> tuple[np.ndarray, np.ndarray]:
    cap = 1 << max(4, (2 * size).bit_length())  # load factor <= 0.5
    return np.full(cap, -1, np.int64), np.full(cap, -1, np.int32)


def _as_int64(h: int) -> np.int64:
    return np.uint64(h).astype(np.int64)


def char_hash(text: str) -> tuple[int, int]:
    """(HASH_BASE ** len(text), hash of text) mod 2**64: h' = h * mul + add appends text."""
    h, mul = 0, 1
    for ch in text:
        h = (h * HASH_BASE + ord(ch)) & MASK64
        mul = (mul * HASH_BASE) & MASK64
    return mul, h


@dataclass
class ShallowFusion:
    """Arrays and weights the compiled search takes; build with :func:`build_fusion`."""

    mode: int
    lm: tuple
    words: tuple
    toks: tuple
    weight: float
    bonus: float
    bos_state: int
    eos_word: int


def _token_tables(tokens: list[str], word_ids: dict[str, int], level: str) -> tuple:
    v = len(tokens)
    starts_word = np.zeros(v, np.bool_)
    mul = np.ones(v, np.uint64)
    add = np.zeros(v, np.uint64)
    nchars = np.zeros(v, np.int32)
    tok_word = np.full(v, -1, np.int32)
    for i, tok in enumerate(tokens):
        if i == 0:  # blank
            continue
        text = UNK_CHAR if tok == UNK else tok
        if level == "token":
            tok_word[i] = word_ids.get(tok, -1)
            continue
        starts_word[i] = text.startswith(SPACE)
        text = text.lstrip(SPACE)
        m, h = char_hash(text)
        mul[i], add[i], nchars[i] = np.uint64(m), np.uint64(h), len(text)
    return starts_word, mul, add, nchars, tok_word


def build_fusion(model: ArpaModel, tokens: list[str], weight: float = 0.5, bonus: float = 0.0,
                 level: Literal["word", "token"] = "word") -> ShallowFusion:
    """Shallow fusion of ``model`` (words, or the token strings of ``tokens``) with weight
    ``weight`` on its natural-log probabilities and ``bonus`` added per scored word."""
    if level not in ("word", "token"):
        raise AsrError(f"LM level must be 'word' or 'token', got '{level}'")
    vocab = model.vocab
    word_ids = {w: i for i, w in enumerate(vocab)}
    n_nodes = 1 + sum(len(g) for g in model.ngrams)
    keys, vals = _table(n_nodes)
    logp = np.zeros(n_nodes, np.float64)
    backoff = np.zeros(n_nodes, np.float64)
    suffix = np.zeros(n_nodes, np.int32)
    order = np.zeros(n_nodes, np.int32)
    node_of: dict[tuple[str, ...], int] = {(): 0}
    for k, grams in enumerate(model.ngrams):
        for g, (p, bo) in grams.items():
            parent = node_of.get(g[:-1])
            if parent is None:
                raise AsrError(f"LM n-gram '{' '.join(g)}' has no '{' '.join(g[:-1])}' "
                               f"{k}-gram: the ARPA file is not a backoff model")
            node = len(node_of)
            node_of[g] = node
            hash_insert(keys, vals, np.int64(parent) * len(vocab) + word_ids[g[-1]], node)
            logp[node], backoff[node], order[node] = p * LN10, bo * LN10, k + 1
    for g, node in node_of.items():
        for start in range(1, len(g) + 1):
            if g[start:] in node_of:
                suffix[node] = node_of[g[start:]]
                break
    lm = (keys, vals, logp, backoff, suffix, order, max(model.order, 1), np.int64(len(vocab)),
          word_ids.get(UNK, -1), OOV_LOGP)
    wkeys, wvals = _table(len(vocab))
    for w, i in word_ids.items():
        hash_insert(wkeys, wvals, _as_int64(char_hash(w)[1]), i)
    bos_state = node_of.get((BOS,), 0) if model.order > 1 else 0
    return ShallowFusion(LM_WORD if level == "word" else LM_TOKEN, lm, (wkeys, wvals),
                         _token_tables(tokens, word_ids, level), float(weight), float(bonus),
                         bos_state, word_ids[EOS])


@functools.cache
def no_fusion() -> ShallowFusion:
    """Empty tables: the search without an LM (same compiled code, LM branches skipped).
    Built once: the search only reads them."""
    keys, vals = _table(1)
    empty_f, empty_i = np.zeros(1, np.float64), np.zeros(1, np.int32)
    lm = (keys, vals, empty_f, empty_f, empty_i, empty_i, 1, np.int64(1), -1, OOV_LOGP)
    toks = (np.zeros(1, np.bool_), np.ones(1, np.uint64), np.zeros(1, np.uint64), empty_i,
            empty_i)
    return ShallowFusion(LM_NONE, lm, (keys, vals), toks, 0.0, 0.0, 0, -1)
