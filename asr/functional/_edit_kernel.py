"""Compiled (numba) Levenshtein moves for long sequences: an hour's transcript (6,500
words) against its hypothesis is 42 million cells, minutes and gigabytes as Python lists,
a fraction of a second and one byte per cell here."""

from __future__ import annotations

import numpy as np
from numba import njit

DIAGONAL, DELETE, INSERT = 0, 1, 2


@njit(cache=True)
def edit_moves(ref: np.ndarray, hyp: np.ndarray, moves: np.ndarray) -> int:
    """The edit distance of int sequences ``ref`` (N,) and ``hyp`` (M,), and into ``moves``
    (N + 1, M + 1) int8 the move that reaches each cell: the diagonal (match or
    substitution) where it is as cheap as any, then a deletion, then an insertion (the
    order :func:`asr.functional.edit_distance.align` prefers)."""
    n, m = ref.shape[0], hyp.shape[0]
    prev = np.arange(m + 1)
    cur = np.empty(m + 1, np.int64)
    moves[0, 1:] = INSERT
    moves[1:, 0] = DELETE
    for i in range(1, n + 1):
        cur[0] = i
        for j in range(1, m + 1):
            sub = prev[j - 1] + (1 if ref[i - 1] != hyp[j - 1] else 0)
            best, move = sub, DIAGONAL
            if prev[j] + 1 < best:
                best, move = prev[j] + 1, DELETE
            if cur[j - 1] + 1 < best:
                best, move = cur[j - 1] + 1, INSERT
            cur[j] = best
            moves[i, j] = move
        prev, cur = cur, prev
    return prev[m]
