"""The open-addressing hash table every compiled search structure uses (the n-gram trie,
the LM's words, the hotword graph): int64 keys in a power-of-two array, -1 marking a free
slot, linear probing; the values beside them."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def hash_find(keys, vals, key):
    """Open-addressing lookup in a power-of-two table; -1 when ``key`` is absent."""
    mask = keys.shape[0] - 1
    i = (key * np.int64(0x9E3779B97F4A7C15)) >> np.int64(17) & mask
    while True:
        k = keys[i]
        if k == key:
            return vals[i]
        if k == -1:
            return -1
        i = (i + 1) & mask


@njit(cache=True)
def hash_insert(keys, vals, key, val):
    """Insert (or overwrite) ``key`` -> ``val``; the table must have a free slot."""
    mask = keys.shape[0] - 1
    i = (key * np.int64(0x9E3779B97F4A7C15)) >> np.int64(17) & mask
    while keys[i] != -1 and keys[i] != key:
        i = (i + 1) & mask
    keys[i] = key
    vals[i] = val
