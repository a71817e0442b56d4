"""CTC searches that resume across chunks: feed each chunk's log-probs as it arrives,
read the partial hypothesis after each, and after the last chunk get what the offline
search (:mod:`asr.functional.ctc_search`) gives on the whole utterance's log-probs.

One utterance at a time (a stream); for several streams, one searcher each.
"""

from __future__ import annotations

import numpy as np
import torch

from asr.functional._beam_state import grow_trie, new_beam, new_trie, search_options
from asr.functional.context_graph import ContextGraph, empty_context_graph
from asr.functional.fusion_table import FusionTables, no_fusion


def _frames(log_probs: torch.Tensor | np.ndarray) -> np.ndarray:
    """(T, V) log-probs of one chunk as contiguous float32 on the CPU."""
    lp = log_probs.detach().float().cpu().numpy() if isinstance(log_probs, torch.Tensor) \
        else np.asarray(log_probs, np.float32)
    if lp.ndim != 2:
        raise ValueError(f"expected one chunk's log-probs (T, V), got shape {lp.shape}")
    return np.ascontiguousarray(lp)


class StreamingGreedySearch:
    """Best path across chunks: the argmax token of each frame, repeats merged, blanks
    dropped; a repeat that spans a chunk boundary merges as it does offline."""

    def __init__(self, blank: int = 0):
        self.blank = blank
        self.reset()

    def reset(self) -> None:
        self.hypothesis: list[int] = []
        self._prev = self.blank

    def accept(self, log_probs: torch.Tensor | np.ndarray) -> list[int]:
        """One chunk (T, V) -> the hypothesis so far (token ids)."""
        for t in _frames(log_probs).argmax(axis=1).tolist():
            if t != self.blank and t != self._prev:
                self.hypothesis.append(t)
            self._prev = t
        return list(self.hypothesis)

    def finalize(self) -> list[int]:
        """The final hypothesis; the searcher is ready for the next utterance."""
        out = self.hypothesis
        self.reset()
        return out


class StreamingPrefixBeamSearch:
    """:func:`asr.functional.ctc_prefix_beam_search_nbest` whose beam (and prefix trie,
    with each prefix's LM state) is kept between calls. Options as there."""

    def __init__(self, beam_size: int = 10, blank: int = 0, token_topk: int | None = None,
                 token_threshold: float | None = None, lm: FusionTables | None = None,
                 hotwords: ContextGraph | None = None):
        if beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {beam_size}")
        self.fusion = lm if lm is not None else no_fusion()
        self.options = search_options(beam_size, token_topk, token_threshold, blank,
                                      self.fusion, hotwords is not None)
        self.ctx = hotwords if hotwords is not None else empty_context_graph()
        self._has_lm = lm is not None
        self.reset()

    def reset(self) -> None:
        """A new utterance: the beam holds the empty prefix (trie node 0) only."""
        self.frames = 0
        self.trie = new_trie(1024, self.options.blank, self.fusion.lm.bos_state)
        self.beam_state = new_beam(self.options.beam)
        self.b_size, self.num_nodes = 1, 1

    def accept(self, log_probs: torch.Tensor | np.ndarray) -> list[int]:
        """One chunk (T, V) -> the best prefix so far (token ids, by its score with the
        LM of its complete words; the final ranking also scores the end of sentence)."""
        from asr.functional import _beam_kernel as kernel  # numba: compiled lazily

        lp = _frames(log_probs)
        f = self.fusion
        if self._has_lm and f.num_tokens != lp.shape[1]:
            raise ValueError(f"the LM fusion tables cover {f.num_tokens} tokens, the "
                             f"log-probs {lp.shape[1]}")
        need = self.num_nodes + lp.shape[0] * self.options.beam + 1
        cap = self.trie.parent.shape[0]
        if need > cap:
            self.trie = grow_trie(self.trie, self.num_nodes, max(need, 2 * cap))
        if self.options.hotwords and self.ctx.vocab != lp.shape[1]:
            raise ValueError(f"the hotword graph covers {self.ctx.vocab} tokens, the "
                             f"log-probs {lp.shape[1]}")
        self.b_size, self.num_nodes = kernel.advance(lp, self.options, f.lm, f.toks, self.ctx,
                                                     self.trie, self.beam_state, self.b_size,
                                                     self.num_nodes)
        self.frames += lp.shape[0]
        return self._labels(int(self.beam_state.node[0])) if self.b_size else []

    def _labels(self, node: int) -> list[int]:
        """The label sequence of trie node ``node``, first token first."""
        out = []
        while node != 0:
            out.append(int(self.trie.token[node]))
            node = int(self.trie.parent[node])
        return out[::-1]

    def finalize_nbest(self, nbest: int = 1) -> list[tuple[list[int], float]]:
        """The ``nbest`` best label sequences with their scores, best first, as offline;
        the searcher is ready for the next utterance."""
        from asr.functional import _beam_kernel as kernel

        if nbest < 1:
            raise ValueError(f"nbest must be >= 1, got {nbest}")
        nbest = min(nbest, self.options.beam)
        out_tokens = np.zeros((nbest, max(self.frames, 1)), np.int32)
        out_lens = np.zeros(nbest, np.int64)
        out_scores = np.zeros(nbest, np.float64)
        count = kernel.finish(self.options, self.fusion.lm, self.ctx, nbest, self.trie,
                              self.beam_state, self.b_size, out_tokens, out_lens, out_scores)
        self.reset()
        return [(out_tokens[r, :out_lens[r]].tolist(), float(out_scores[r]))
                for r in range(count)]

    def finalize(self) -> list[int]:
        """The best label sequence (as :func:`asr.functional.ctc_prefix_beam_search`)."""
        hyps = self.finalize_nbest(1)
        return hyps[0][0] if hyps else []
