"""Compiled bulk operations on the open-addressing hash tables of the n-gram trie.

Building the tables of a 3M n-gram LM one Python call per n-gram costs tens of seconds;
these loops do whole arrays per call and use the search's own hash function, so a table
built here is read unchanged by :mod:`asr.functional._beam_kernel`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from asr.functional._hash_table import hash_find, hash_insert


@njit(cache=True)
def hash_insert_many(keys, vals, new_keys, new_vals):
    """Insert new_keys[i] -> new_vals[i] (both (N,)); returns how many keys were already
    present (their values are overwritten). The table must have room for all of them."""
    mask = keys.shape[0] - 1
    duplicates = 0
    for n in range(new_keys.shape[0]):
        key = new_keys[n]
        i = (key * np.int64(0x9E3779B97F4A7C15)) >> np.int64(17) & mask
        while keys[i] != -1 and keys[i] != key:
            i = (i + 1) & mask
        if keys[i] == key:
            duplicates += 1
        keys[i] = key
        vals[i] = new_vals[n]
    return duplicates


@njit(cache=True)
def hash_find_many(keys, vals, queries):
    """vals of each of queries (N,) int64, -1 where a key is absent: (N,) int32."""
    out = np.empty(queries.shape[0], np.int32)
    for n in range(queries.shape[0]):
        out[n] = hash_find(keys, vals, queries[n])
    return out


@njit(cache=True)
def trie_walk(keys, vals, vocab, ids, start, stop):
    """The trie node of ids[n, start:stop] for each row of ids (N, K) int32, following
    child = table[parent * vocab + word] from the root (node 0); -1 where some prefix of
    that word sequence is not in the trie. Returns (N,) int32."""
    out = np.empty(ids.shape[0], np.int32)
    for n in range(ids.shape[0]):
        node = 0
        for j in range(start, stop):
            node = hash_find(keys, vals, np.int64(node) * vocab + ids[n, j])
            if node < 0:
                break
        out[n] = node
    return out


__all__ = ["hash_find_many", "hash_insert", "hash_insert_many", "trie_walk"]
