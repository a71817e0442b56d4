"""The prefix beam search's options and state as records the compiled kernel takes.

Named tuples of scalars and arrays compile in numba's nopython mode like separate
arguments, so :mod:`asr.functional._beam_kernel` reads fields by name, not position.
They stay flat (no record inside a record): numba's parallel loops take a record's
arrays apart one level deep only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numba import njit

if TYPE_CHECKING:
    from asr.functional.fusion_table import FusionTables


class SearchOptions(NamedTuple):
    """What stays fixed during a search: the beam size, the tokens that may extend a
    prefix per frame (the ``topk`` most likely with log-prob >= ``threshold``), the blank,
    the LM fusion's mode (LM_NONE, LM_WORD, LM_TOKEN), weight and per-word bonus, and
    whether a hotword graph rewards prefixes (``hotwords``)."""

    beam: int
    topk: int
    threshold: float
    blank: int
    lm_mode: int
    lm_weight: float
    lm_bonus: float
    hotwords: bool


def search_options(beam_size: int, token_topk: int | None, token_threshold: float | None,
                   blank: int, fusion: FusionTables, hotwords: bool = False) -> SearchOptions:
    """The options of a search (``token_topk`` None: ``beam_size``; ``token_threshold``
    None: no threshold), with the types fixed so that numba compiles the kernel once."""
    topk = beam_size if token_topk is None else token_topk
    if topk < 1:
        raise ValueError(f"token_topk must be >= 1, got {topk}")
    threshold = -np.inf if token_threshold is None else float(token_threshold)
    return SearchOptions(int(beam_size), int(topk), threshold, int(blank), int(fusion.mode),
                         float(fusion.weight), float(fusion.bonus), bool(hotwords))


class Trie(NamedTuple):
    """The prefix trie, all arrays (cap,) indexed by node; node 0 is the empty prefix.

    parent, token (its last token), first_child / next_sibling (its children, -1 ends),
    lm_state (the LM state after its complete words), word_hash / word_len (the pending
    word's character hash and length), lm_acc (weighted LM score + bonuses of its complete
    words, and hotword rewards), slot (index in the current beam, -1 outside it; all -1
    between frames), ctx_state (its state in the hotword graph).
    """

    parent: np.ndarray
    token: np.ndarray
    first_child: np.ndarray
    next_sibling: np.ndarray
    lm_state: np.ndarray
    word_hash: np.ndarray
    word_len: np.ndarray
    lm_acc: np.ndarray
    slot: np.ndarray
    ctx_state: np.ndarray


class Beam(NamedTuple):
    """The beam, arrays (beam,) of which the first ``size`` entries are in use: each
    entry's trie node and log-scores of its paths ending in blank (pb) and not (pnb)."""

    node: np.ndarray
    pb: np.ndarray
    pnb: np.ndarray


@njit(cache=True)
def new_trie(cap: int, blank: int, bos_state: int) -> Trie:
    """A trie with room for ``cap`` nodes holding the empty prefix (node 0) only."""
    trie = Trie(np.empty(cap, np.int32), np.empty(cap, np.int32), np.full(cap, -1, np.int32),
                np.full(cap, -1, np.int32), np.empty(cap, np.int32), np.empty(cap, np.uint64),
                np.empty(cap, np.int32), np.empty(cap, np.float64), np.full(cap, -1, np.int32),
                np.empty(cap, np.int32))
    trie.parent[0], trie.token[0], trie.lm_state[0], trie.ctx_state[0] = -1, blank, bos_state, 0
    trie.word_hash[0], trie.word_len[0], trie.lm_acc[0] = 0, 0, 0.0
    return trie


@njit(cache=True)
def new_beam(beam: int) -> Beam:
    """A beam of size ``beam`` holding the empty prefix only (use it with size 1)."""
    out = Beam(np.zeros(beam, np.int32), np.full(beam, -np.inf), np.full(beam, -np.inf))
    out.pb[0] = 0.0
    return out


def grow_trie(trie: Trie, used: int, cap: int) -> Trie:
    """``trie`` with room for ``cap`` nodes, keeping its nodes [0, used)."""
    grown = new_trie(cap, 0, 0)
    for new, old in zip(grown, trie, strict=True):
        new[:used] = old[:used]
    return grown
