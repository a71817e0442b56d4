"""The tokenizer-independent half of the fusion tables: the n-gram trie and the word table.

The n-grams become a trie: node 0 is the empty history, node (w1..wk) is the child of
node (w1..wk-1) under wk, found through a hash table keyed by parent * V + word. Each
node has its natural-log probability, backoff weight, order and a suffix link (the node
of the longest proper suffix w_j..wk in the trie), which is all that backoff scoring
needs. Nodes are numbered order by order in file order, so the tables of one ARPA file
are the same arrays however they were built.

Everything is built with whole-array numpy and compiled loops, order by order: a 3M
n-gram LM takes seconds, and these arrays are what :mod:`asr.lm.compiled_lm` stores.
"""

from __future__ import annotations

import math

import numpy as np

from asr.errors import DataError
from asr.functional.fusion_table import (
    NgramTables,
    as_int64,
    char_hash,
    empty_hash_table,
    hash_insert_many,
    trie_walk,
)
from asr.lm.arpa import BOS, EOS
from asr.lm.arpa_arrays import ArpaArrays

LN10 = math.log(10.0)


def build_ngram_tables(arpa: ArpaArrays) -> NgramTables:
    """The trie and word table of ``arpa``; an n-gram without its (k-1)-gram history, or
    one given twice, is an error (the file is not a backoff model)."""
    v = np.int64(len(arpa.vocab))
    n_nodes = 1 + arpa.num_ngrams
    keys, vals = empty_hash_table(n_nodes)
    logp = np.zeros(n_nodes, np.float64)
    backoff = np.zeros(n_nodes, np.float64)
    suffix = np.zeros(n_nodes, np.int32)
    order = np.zeros(n_nodes, np.int32)
    first = 1
    for k, grams in enumerate(arpa.orders, start=1):
        n = len(grams.logp)
        nodes = np.arange(first, first + n, dtype=np.int32)
        parent = trie_walk(keys, vals, v, grams.ids, 0, k - 1)
        if (parent < 0).any():
            bad = grams.ids[int(np.argmax(parent < 0))]
            words = [arpa.vocab[i] for i in bad]
            raise DataError(f"LM n-gram '{' '.join(words)}' has no '{' '.join(words[:-1])}' "
                            f"{k - 1}-gram: the ARPA file is not a backoff model")
        dup = hash_insert_many(keys, vals, parent.astype(np.int64) * v + grams.ids[:, k - 1],
                               nodes)
        if dup:
            raise DataError(f"the LM has {dup} {k}-gram(s) listed twice")
        logp[first:first + n] = grams.logp * LN10
        backoff[first:first + n] = grams.backoff * LN10
        order[first:first + n] = k
        first += n
    first = 1
    for k, grams in enumerate(arpa.orders, start=1):  # all nodes exist now: suffix links
        n = len(grams.logp)
        link = np.zeros(n, np.int32)
        for start in range(k - 1, 0, -1):  # shortest suffix first: longer ones overwrite
            found = trie_walk(keys, vals, v, grams.ids, start, k)
            link = np.where(found >= 0, found, link)
        suffix[first:first + n] = link
        first += n
    word_keys, word_vals = empty_hash_table(len(arpa.vocab))
    word_hashes = np.array([as_int64(char_hash(w)[1]) for w in arpa.vocab], np.int64)
    hash_insert_many(word_keys, word_vals, word_hashes, np.arange(len(arpa.vocab),
                                                                  dtype=np.int32))
    bos = arpa.vocab.index(BOS) + 1 if arpa.order > 1 and BOS in arpa.vocab else 0
    return NgramTables(keys, vals, logp, backoff, suffix, order, word_keys, word_vals,
                       max(arpa.order, 1), int(v), bos, arpa.vocab.index(EOS))
