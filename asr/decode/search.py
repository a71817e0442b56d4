"""The search that turns a model's log-probs into token ids: one specification
(:class:`SearchSpec`, what the decode commands' options say), checked in one place, and
one factory (:func:`make_search`) for offline decoding and for streams.

Offline: greedy, prefix beam with an optional n-gram LM (an ARPA file, compiled and cached
beside it on first use, or a compiled LM from 'asr compile-lm') fused at word or token
level, or the best entry of a closed vocabulary file. A stream takes greedy or prefix beam
(with its LM) and keeps the beam between chunks; its final result equals the offline
search on the same log-probs. Either way ``blank_penalty`` lowers blank first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import torch

from asr.data.tokenizer import SPACE, UNK
from asr.decode.defaults import DEFAULT_HOTWORD_WEIGHT
from asr.decode.hotwords import hotword_graph
from asr.decode.vocabulary import vocabulary_search
from asr.errors import AsrError
from asr.exp.experiment import Experiment
from asr.functional.context_graph import ContextGraph
from asr.functional.ctc_search import (
    ctc_greedy_search,
    ctc_prefix_beam_search,
    ctc_prefix_beam_search_nbest,
    penalize_blank,
)
from asr.functional.ctc_streaming_search import StreamingGreedySearch, StreamingPrefixBeamSearch
from asr.functional.fusion_table import FusionTables

Search = Callable[[torch.Tensor, torch.Tensor], list[list[int]]]  # (N, T, V), (N,) -> ids
# (N, T, V), (N,) -> per utterance up to n (ids, log-score), best first
NbestSearch = Callable[[torch.Tensor, torch.Tensor], list[list[tuple[list[int], float]]]]


class BlankPenalized:
    """A streaming search fed log-probs with blank lowered by ``penalty`` (as offline)."""

    def __init__(self, search: StreamingGreedySearch | StreamingPrefixBeamSearch,
                 penalty: float):
        self.search, self.penalty = search, penalty

    def accept(self, log_probs: torch.Tensor) -> list[int]:
        """Log-probs (T, V) of the next frames -> the best ids so far."""
        return self.search.accept(penalize_blank(torch.as_tensor(log_probs), self.penalty))

    def finalize(self) -> list[int]:
        """The best ids of the whole utterance; the search is ready for the next one."""
        return self.search.finalize()

    def finalize_nbest(self, nbest: int) -> list[tuple[list[int], float]]:
        """The n best (ids, score) of a prefix beam search, best first."""
        return self.search.finalize_nbest(nbest)


StreamingSearch = StreamingGreedySearch | StreamingPrefixBeamSearch | BlankPenalized


@dataclass(frozen=True)
class SearchSpec:
    """The search options of ``asr decode``/``transcribe``; invalid combinations are
    refused on construction, with the options named as on the command line."""

    method: Literal["greedy", "prefix_beam", "vocabulary"] = "greedy"
    beam: int = 10
    token_topk: int | None = None  # tokens per frame that may extend a prefix (None: beam)
    lm: Path | None = None
    lm_weight: float = 0.5
    lm_bonus: float = 0.0
    lm_level: Literal["word", "token"] = "word"
    vocabulary: Path | None = None
    vocabulary_prior: bool = False
    search_threads: int = 1  # offline prefix beam: utterances of a batch in parallel
    blank_penalty: float = 0.0
    nbest: int = 1  # > 1: prefix beam's n best hypotheses with their scores
    hotwords: Path | None = None  # phrases (and weights) the prefix beam search rewards
    hotword_weight: float = DEFAULT_HOTWORD_WEIGHT  # for lines without their own

    def __post_init__(self) -> None:
        if self.method not in ("greedy", "prefix_beam", "vocabulary"):
            raise AsrError(f"unknown search method '{self.method}' (greedy, prefix_beam or "
                           "vocabulary)")
        if (self.method == "vocabulary") != (self.vocabulary is not None):
            raise AsrError("--method vocabulary and --vocabulary FILE go together")
        if self.method == "vocabulary" and self.lm is not None:
            raise AsrError("--method vocabulary takes no --lm (use --vocabulary-prior)")
        if self.method == "greedy" and self.lm is not None:
            raise AsrError("an LM needs --method prefix_beam")
        if self.method != "prefix_beam" and self.hotwords is not None:
            raise AsrError("--hotwords needs --method prefix_beam")
        if self.method != "prefix_beam" and self.nbest != 1:
            raise AsrError("--nbest needs --method prefix_beam (greedy and vocabulary keep "
                           "one hypothesis)")
        if self.method == "prefix_beam":
            if self.beam < 1 or (self.token_topk is not None and self.token_topk < 1):
                raise AsrError(f"--beam and --token-topk must be >= 1, got {self.beam} and "
                               f"{self.token_topk}")
            if not 1 <= self.nbest <= self.beam:
                raise AsrError(f"--nbest must be in [1, --beam {self.beam}], got {self.nbest}")
            if self.search_threads < 1:
                raise AsrError(f"--search-threads must be >= 1, got {self.search_threads}")

    def fusion(self, exp: Experiment) -> FusionTables | None:
        """The LM's fusion tables over the exp's tokens, or None without an LM."""
        if self.lm is None:
            return None
        from asr.lm.compiled_lm import load_lm  # here: greedy needs no compiled search
        from asr.lm.fusion import fusion_tables

        return fusion_tables(load_lm(self.lm), exp.tokenizer.tokens, self.lm_weight,
                             self.lm_bonus, self.lm_level, word_start=SPACE, unk=UNK)

    def context_graph(self, exp: Experiment) -> ContextGraph | None:
        """The hotwords' context graph over the exp's tokens, or None without hotwords."""
        if self.hotwords is None:
            return None
        return hotword_graph(self.hotwords, exp.tokenizer, self.hotword_weight)


def make_search(exp: Experiment, spec: SearchSpec | None = None, streaming: bool = False
                ) -> Search | NbestSearch | StreamingSearch:
    """The search of ``spec`` over the exp's tokens: a function of a batch's log-probs
    (N, T, V) and lengths (N,) -> token ids (with ``spec.nbest`` > 1, n-best lists), or
    with ``streaming`` a fresh :data:`StreamingSearch` (``accept`` chunks, ``finalize``)."""
    spec = SearchSpec() if spec is None else spec
    if streaming:
        return _streaming_search(exp, spec)
    search = _offline_search(exp, spec)
    if not spec.blank_penalty:
        return search
    return lambda log_probs, lengths: search(penalize_blank(log_probs, spec.blank_penalty),
                                             lengths)


def _offline_search(exp: Experiment, spec: SearchSpec) -> Search | NbestSearch:
    if spec.method == "vocabulary":
        return vocabulary_search(spec.vocabulary, exp.tokenizer, spec.vocabulary_prior)
    if spec.method == "greedy":
        return ctc_greedy_search
    if spec.nbest > 1:
        return partial(ctc_prefix_beam_search_nbest, beam_size=spec.beam, nbest=spec.nbest,
                       token_topk=spec.token_topk, lm=spec.fusion(exp),
                       num_threads=spec.search_threads, hotwords=spec.context_graph(exp))
    return partial(ctc_prefix_beam_search, beam_size=spec.beam, token_topk=spec.token_topk,
                   lm=spec.fusion(exp), num_threads=spec.search_threads,
                   hotwords=spec.context_graph(exp))


def _streaming_search(exp: Experiment, spec: SearchSpec) -> StreamingSearch:
    if spec.method == "vocabulary":
        raise AsrError("--method vocabulary does not stream (greedy or prefix_beam): a "
                       "closed vocabulary needs the whole utterance")
    search = StreamingGreedySearch() if spec.method == "greedy" else StreamingPrefixBeamSearch(
        beam_size=spec.beam, token_topk=spec.token_topk, lm=spec.fusion(exp),
        hotwords=spec.context_graph(exp))
    return BlankPenalized(search, spec.blank_penalty) if spec.blank_penalty else search
