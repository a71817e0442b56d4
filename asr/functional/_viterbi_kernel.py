"""Compiled (numba) CTC Viterbi in memory that grows with sqrt(T) * S, not T * S.

torchaudio's ``forced_align`` keeps a back-pointer per frame and path state: an hour of
audio (90,000 output frames) against its transcript (100,000 states) is 9 GB. Here the
forward pass keeps only the scores of every K-th frame (checkpoints); the backtrace
recomputes one block of K frames at a time from its checkpoint, with back-pointers for that
block alone: twice the arithmetic, O((T / K) * S * 8 + K * S) bytes, and the same path
(``tests/functional/test_ctc_align.py`` compares it with torchaudio's).

States are those of the CTC path: even ones blank, state 2i + 1 the i-th token. As
torchaudio does, state s at frame t is only considered where a path can still reach the
end (s >= S - 2 (T - t)) and could have got there (s < 2 t + 2), and a tie keeps the
state (then s - 1, then s - 2).
"""

from __future__ import annotations

import numpy as np
from numba import njit

NEG_INF = -np.inf


@njit(cache=True)
def _step(prev: np.ndarray, cur: np.ndarray, row: np.ndarray, ext: np.ndarray,
          skip: np.ndarray, t: int, frames: int, back: np.ndarray) -> None:
    """Scores ``cur`` (S,) of frame ``t`` from ``prev`` (frame t - 1) and the frame's
    log-probs ``row`` (V,); ``back`` (S,) gets each state's move (0 stay, 1 or 2 back)."""
    states = cur.shape[0]
    start = max(0, states - 2 * (frames - t))
    end = min(2 * t + 2, states)
    cur[:] = NEG_INF
    for s in range(start, end):
        best = prev[s]
        move = 0
        if s > 0 and prev[s - 1] > best:
            best = prev[s - 1]
            move = 1
        if skip[s] and prev[s - 2] > best:
            best = prev[s - 2]
            move = 2
        cur[s] = best + row[ext[s]]
        back[s] = move


@njit(cache=True)
def viterbi_checkpointed(log_probs: np.ndarray, ext: np.ndarray, skip: np.ndarray,
                         block: int, checkpoints: np.ndarray, back: np.ndarray,
                         states_out: np.ndarray) -> float:
    """The best CTC path's state per frame into ``states_out`` (T,), and its score.

    ``log_probs`` (T, V) float32, summed in float64 (an hour's path sums 10^5 terms);
    ``ext`` (S,) the label of each state; ``skip`` (S,) whether state s may come from
    s - 2 (a token unlike the one before it); ``checkpoints`` (ceil(T / block), S) float64
    and ``back`` (block, S) int8 are the caller's buffers (so their memory is the caller's
    to see and bound).
    """
    frames = log_probs.shape[0]
    states = ext.shape[0]
    cur = np.empty(states, np.float64)
    prev = np.full(states, NEG_INF, np.float64)
    scratch = np.empty(states, np.int8)
    prev[0] = log_probs[0, ext[0]]
    if states > 1:
        prev[1] = log_probs[0, ext[1]]
    checkpoints[0, :] = prev
    for t in range(1, frames):
        _step(prev, cur, log_probs[t], ext, skip, t, frames, scratch)
        prev, cur = cur, prev
        if t % block == 0:
            checkpoints[t // block, :] = prev
    last = states - 1
    if states > 1 and prev[states - 2] > prev[last]:
        last = states - 2
    score = prev[last]
    # backtrace, one block at a time: frames (j*block, (j+1)*block] from checkpoint j
    s = last
    states_out[frames - 1] = s
    top = frames - 1
    while top > 0:
        j = (top - 1) // block
        first = j * block + 1  # frames first..top are recomputed from checkpoint j
        prev[:] = checkpoints[j, :]
        for t in range(first, top + 1):
            _step(prev, cur, log_probs[t], ext, skip, t, frames, back[t - first])
            prev, cur = cur, prev
        for t in range(top, first - 1, -1):
            s -= back[t - first, s]
            states_out[t - 1] = s
        top = first - 1
    return score
