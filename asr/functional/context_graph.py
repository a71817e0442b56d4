"""Hotword boosting for the prefix beam search: a context graph (Aho-Corasick automaton
over token ids) that rewards a hypothesis token by token while it follows a hotword and
takes the reward back when it leaves one unfinished (the scheme of WeNet and icefall).

State s stands for the longest hotword prefix the hypothesis ends with; ``acc[s]`` is the
reward of that partial match (the sum of its tokens' weights). A token moves s along the
hotword trie, or along failure links to the longest suffix that is still a hotword prefix;
the score change is ``acc[next] - acc[s]``: a match that goes on gains its token's weight, a
broken one loses what it had gained (down to what the suffix keeps). When the text so far
ends with a complete hotword (the state's own, or a shorter one on its failure chain),
that hotword's reward is kept for good, the rest of the partial match is taken back, and
matching restarts at the root: hotwords are matched left to right, the first to end
wins, the longest of those ending there (a longer hotword that extends a completed one
gets the shorter one's reward only). At the end of the utterance the unfinished part is
taken back (:func:`context_final`), so an n-best list ranks complete hotwords only.

The automaton is flat arrays (:class:`ContextGraph`) that the compiled search reads; the
edges live in a hash table keyed by ``state * vocab + token``.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numba import njit

from asr.functional._hash_kernel import hash_insert_many
from asr.functional._hash_table import hash_find


class ContextGraph(NamedTuple):
    """keys/vals: the trie edges (``state * vocab + token`` -> child, a power-of-two
    open-addressing table, key -1 empty); fail (S,): the failure link of each state;
    acc (S,): the reward of the partial match a state stands for; done (S,): whether a
    hotword ends there or on its failure chain, out (S,): the reward of the longest such.
    State 0 is the root; an empty graph has the root only."""

    keys: np.ndarray
    vals: np.ndarray
    fail: np.ndarray
    acc: np.ndarray
    done: np.ndarray
    out: np.ndarray
    vocab: int


def build_context_graph(hotwords: Sequence[tuple[Sequence[int], float]], vocab: int
                        ) -> ContextGraph:
    """The graph of ``hotwords``: (token ids, weight per token) each. Where two hotwords
    share a prefix, the prefix gets the larger weight."""
    children: list[dict[int, int]] = [{}]
    acc, end = [0.0], [False]
    for tokens, weight in hotwords:
        if not tokens:
            continue
        s = 0
        for t in tokens:
            if not 0 <= t < vocab:
                raise ValueError(f"token id {t} is outside the vocabulary [0, {vocab})")
            nxt = children[s].get(t)
            if nxt is None:
                nxt = len(acc)
                children[s][t] = nxt
                children.append({})
                acc.append(acc[s] + weight)
                end.append(False)
            else:
                acc[nxt] = max(acc[nxt], acc[s] + weight)
            s = nxt
        end[s] = True
    fail = [0] * len(acc)
    done, out = list(end), [a if e else 0.0 for a, e in zip(acc, end, strict=True)]
    queue = deque(children[0].values())
    while queue:  # breadth first: a state's failure link is set before its children's
        s = queue.popleft()
        for t, child in children[s].items():
            f = fail[s]
            while f and t not in children[f]:
                f = fail[f]
            fail[child] = children[f].get(t, 0) if s else 0
            if not end[child] and done[fail[child]]:
                done[child], out[child] = True, out[fail[child]]
            queue.append(child)
    edges = [(s * vocab + t, c) for s, ch in enumerate(children) for t, c in ch.items()]
    size = 1 << max(4, (2 * len(edges)).bit_length())
    keys = np.full(size, -1, np.int64)
    vals = np.full(size, -1, np.int32)
    if edges:
        hash_insert_many(keys, vals, np.array([k for k, _ in edges], np.int64),
                         np.array([c for _, c in edges], np.int32))
    return ContextGraph(keys, vals, np.array(fail, np.int32), np.array(acc, np.float64),
                        np.array(done, np.bool_), np.array(out, np.float64), int(vocab))


@functools.cache
def empty_context_graph() -> ContextGraph:
    """A graph with the root only: the search's argument when there are no hotwords (built
    once; the search never reads it then)."""
    return build_context_graph([], 1)


@njit(cache=True)
def context_step(graph, state, token):
    """(score change, next state) of ``token`` after ``state``."""
    s = state
    while True:
        child = hash_find(graph.keys, graph.vals, np.int64(s) * graph.vocab + token)
        if child >= 0:
            break
        if s == 0:
            child = 0
            break
        s = graph.fail[s]
    if graph.done[child]:  # a complete hotword: its reward stays, matching starts over
        return graph.out[child] - graph.acc[state], 0
    return graph.acc[child] - graph.acc[state], child


@njit(cache=True)
def context_final(graph, state):
    """The score change at the end of the utterance: an unfinished match is taken back."""
    return -graph.acc[state]
