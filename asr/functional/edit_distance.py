"""Levenshtein alignment of reference and hypothesis word (or character) sequences."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from asr.functional._edit_kernel import DELETE, DIAGONAL, INSERT, edit_moves

EPS = "***"  # Kaldi's align-text marker for an empty side
# pairs of more cells than this are aligned by the compiled kernel (a minute's transcript
# and less stay in Python, which needs no compilation on first use)
LONG_CELLS = 250_000


@dataclass
class ErrorCounts:
    """Edit operations against a reference of ``ref_tokens`` words (or characters, for
    %CER): Kaldi's %WER is 100 x (ins + dels + subs) / ref_tokens."""

    ref_tokens: int = 0
    ins: int = 0
    dels: int = 0
    subs: int = 0

    @property
    def errors(self) -> int:
        return self.ins + self.dels + self.subs

    @property
    def rate(self) -> float:
        """Error rate in percent; 0 errors on an empty reference is 0 %."""
        if self.ref_tokens == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return 100.0 * self.errors / self.ref_tokens

    def __iadd__(self, other: ErrorCounts) -> ErrorCounts:
        self.ref_tokens += other.ref_tokens
        self.ins += other.ins
        self.dels += other.dels
        self.subs += other.subs
        return self


def align(ref: Sequence[str], hyp: Sequence[str]) -> tuple[ErrorCounts, list[tuple[str, str]]]:
    """Minimum edit distance alignment; pairs use ``***`` for the empty side.

    Ties prefer substitution, then deletion, then insertion, so counts match Kaldi's
    compute-wer on the usual inputs. Long pairs (over LONG_CELLS cells) find their moves
    with the compiled kernel (:mod:`asr.functional._edit_kernel`), with the same result.
    """
    if len(ref) * len(hyp) > LONG_CELLS:
        ids: dict[str, int] = {}
        r = np.array([ids.setdefault(w, len(ids)) for w in ref], np.int64)
        h = np.array([ids.setdefault(w, len(ids)) for w in hyp], np.int64)
        moves = np.empty((len(ref) + 1, len(hyp) + 1), np.int8)  # a byte per cell
        edit_moves(r, h, moves)
    else:
        moves = _moves(ref, hyp)
    counts = ErrorCounts(ref_tokens=len(ref))
    pairs: list[tuple[str, str]] = []
    i, j = len(ref), len(hyp)
    while i > 0 or j > 0:
        move = moves[i][j]
        if move == DIAGONAL:
            counts.subs += ref[i - 1] != hyp[j - 1]
            pairs.append((ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif move == DELETE:
            counts.dels += 1
            pairs.append((ref[i - 1], EPS))
            i -= 1
        else:
            counts.ins += 1
            pairs.append((EPS, hyp[j - 1]))
            j -= 1
    pairs.reverse()
    return counts, pairs


def _moves(ref: Sequence[str], hyp: Sequence[str]) -> list[list[int]]:
    """The move into each cell of the (N + 1, M + 1) edit-distance table, as
    :func:`asr.functional._edit_kernel.edit_moves` makes it, in Python (no compilation
    for the short pairs of everyday scoring)."""
    n, m = len(ref), len(hyp)
    prev = list(range(m + 1))
    moves = [[INSERT] * (m + 1)] + [[DELETE] * (m + 1) for _ in range(n)]
    for i in range(1, n + 1):
        cur = [i] + [0] * m
        row = moves[i]
        for j in range(1, m + 1):
            best, move = prev[j - 1] + (ref[i - 1] != hyp[j - 1]), DIAGONAL
            if prev[j] + 1 < best:
                best, move = prev[j] + 1, DELETE
            if cur[j - 1] + 1 < best:
                best, move = cur[j - 1] + 1, INSERT
            cur[j] = best
            row[j] = move
        prev = cur
    return moves
