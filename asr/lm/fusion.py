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

import math
from typing import Literal

import numpy as np

from asr.errors import AsrError
from asr.functional.fusion_table import (
    LM_TOKEN,
    LM_WORD,
    OOV_LOGP,
    FusionTables,
    as_int64,
    char_hash,
    empty_hash_table,
    hash_insert,
)
from asr.lm.arpa import BOS, EOS, ArpaModel

LN10 = math.log(10.0)
UNK_CHAR = "\U0010ffff"  # the <unk> token's "character": no LM word contains it


def _token_tables(tokens: list[str], word_ids: dict[str, int], level: str, word_start: str,
                  unk: str) -> tuple:
    v = len(tokens)
    starts_word = np.zeros(v, np.bool_)
    mul = np.ones(v, np.uint64)
    add = np.zeros(v, np.uint64)
    nchars = np.zeros(v, np.int32)
    tok_word = np.full(v, -1, np.int32)
    for i, tok in enumerate(tokens):
        if i == 0:  # blank
            continue
        text = UNK_CHAR if tok == unk else tok
        if level == "token":
            tok_word[i] = word_ids.get(tok, -1)
            continue
        starts_word[i] = text.startswith(word_start)
        text = text.lstrip(word_start)
        m, h = char_hash(text)
        mul[i], add[i], nchars[i] = np.uint64(m), np.uint64(h), len(text)
    return starts_word, mul, add, nchars, tok_word


def build_fusion(model: ArpaModel, tokens: list[str], weight: float = 0.5, bonus: float = 0.0,
                 level: Literal["word", "token"] = "word", *, word_start: str,
                 unk: str) -> FusionTables:
    """Shallow fusion of ``model`` (words, or the token strings of ``tokens``) with weight
    ``weight`` on its natural-log probabilities and ``bonus`` added per scored word.
    ``word_start`` is the tokenizer's word-boundary mark (a token starting with it begins
    a word) and ``unk`` its unknown token, which matches no LM word."""
    if level not in ("word", "token"):
        raise AsrError(f"LM level must be 'word' or 'token', got '{level}'")
    vocab = model.vocab
    word_ids = {w: i for i, w in enumerate(vocab)}
    n_nodes = 1 + sum(len(g) for g in model.ngrams)
    keys, vals = empty_hash_table(n_nodes)
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
          word_ids.get(unk, -1), OOV_LOGP)
    wkeys, wvals = empty_hash_table(len(vocab))
    for w, i in word_ids.items():
        hash_insert(wkeys, wvals, as_int64(char_hash(w)[1]), i)
    bos_state = node_of.get((BOS,), 0) if model.order > 1 else 0
    return FusionTables(LM_WORD if level == "word" else LM_TOKEN, lm, (wkeys, wvals),
                        _token_tables(tokens, word_ids, level, word_start, unk), float(weight),
                        float(bonus), bos_state, word_ids[EOS])
