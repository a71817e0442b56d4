"""CTC feasibility and search over (N, T, V) log-probabilities, blank = 0."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from asr.functional._beam_state import search_options
from asr.functional.context_graph import ContextGraph, empty_context_graph
from asr.functional.fusion_table import FusionTables, no_fusion


def ctc_min_input_length(targets: Sequence[int]) -> int:
    """Fewest frames CTC needs for ``targets``: L plus one blank per adjacent repeat.

    With fewer frames no alignment exists and the CTC loss is infinite.
    """
    repeats = sum(1 for a, b in zip(targets, targets[1:], strict=False) if a == b)
    return len(targets) + repeats


def penalize_blank(log_probs: torch.Tensor, penalty: float) -> torch.Tensor:
    """(..., V) log-probs with ``penalty`` subtracted from blank's (index 0), as icefall's
    and sherpa-onnx's blank_penalty: > 0 trades deletions for insertions. 0 returns the
    input itself."""
    if not penalty:
        return log_probs
    out = log_probs.clone()
    out[..., 0] -= penalty
    return out


def ctc_greedy_search(log_probs: torch.Tensor, lengths: torch.Tensor,
                      blank: int = 0) -> list[list[int]]:
    """Best path: argmax per frame, merge repeats, drop blanks. (N, T, V), (N,) -> ids."""
    best = log_probs.argmax(dim=-1).cpu()
    out: list[list[int]] = []
    for seq, n in zip(best.tolist(), lengths.cpu().tolist(), strict=True):
        hyp: list[int] = []
        prev = blank
        for t in seq[:n]:
            if t != blank and t != prev:
                hyp.append(t)
            prev = t
        out.append(hyp)
    return out


def _as_numpy(log_probs: torch.Tensor, lengths: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(N, T, V) float32 and (N,) int64 on the CPU; CUDA tensors are copied over."""
    if log_probs.dim() != 3 or lengths.dim() != 1 or lengths.shape[0] != log_probs.shape[0]:
        raise ValueError(f"expected log_probs (N, T, V) and lengths (N,), got "
                         f"{tuple(log_probs.shape)} and {tuple(lengths.shape)}")
    lp = np.ascontiguousarray(log_probs.detach().float().cpu().numpy())
    lens = lengths.detach().cpu().numpy().astype(np.int64)
    if (lens < 0).any() or (lens > lp.shape[1]).any():
        raise ValueError(f"lengths must lie in [0, {lp.shape[1]}], got {lens.tolist()}")
    return lp, lens


def ctc_prefix_beam_search_nbest(log_probs: torch.Tensor, lengths: torch.Tensor,
                                  beam_size: int = 10, nbest: int = 1, blank: int = 0,
                                  token_topk: int | None = None,
                                  token_threshold: float | None = None,
                                  lm: FusionTables | None = None, num_threads: int = 1,
                                  hotwords: ContextGraph | None = None,
                                  ) -> list[list[tuple[list[int], float]]]:
    """CTC prefix beam search (Hannun et al., 2014): the ``nbest`` best label sequences per
    utterance with their log scores (log P(labels | x), plus the weighted LM score and
    insertion bonus when ``lm`` is given), best first.

    log_probs (N, T, V), lengths (N,). Per frame only the ``token_topk`` most likely
    tokens (default: ``beam_size``) with log-prob >= ``token_threshold`` extend a
    prefix; blank and the prefix's own last token always count, so merging is exact.
    With a beam that holds every prefix and no pruning it finds the most probable
    label sequence. Runs compiled (numba): one utterance after the other, or with
    ``num_threads`` > 1 on that many threads, one utterance each (capped by numba's
    NUMBA_NUM_THREADS); the output does not depend on the thread count.
    """
    from asr.functional import _beam_kernel as kernel  # numba: compiled on first use

    if beam_size < 1 or nbest < 1:
        raise ValueError(f"beam_size and nbest must be >= 1, got {beam_size} and {nbest}")
    lp, lens = _as_numpy(log_probs, lengths)
    n, t, v = lp.shape
    nbest = min(nbest, beam_size)
    fusion = lm if lm is not None else no_fusion()
    opts = search_options(beam_size, token_topk, token_threshold, blank, fusion,
                          hotwords is not None)
    if hotwords is not None and hotwords.vocab != v:
        raise ValueError(f"the hotword graph covers {hotwords.vocab} tokens, the log-probs {v}")
    ctx = hotwords if hotwords is not None else empty_context_graph()
    if lm is not None and fusion.num_tokens != v:
        raise ValueError(f"the LM fusion tables cover {fusion.num_tokens} tokens, the "
                         f"log-probs {v}")
    out_tokens = np.zeros((n, nbest, max(t, 1)), np.int32)
    out_lens = np.zeros((n, nbest), np.int64)
    out_scores = np.zeros((n, nbest), np.float64)
    out_count = np.zeros(n, np.int64)
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    run = kernel.search_batch
    if num_threads > 1 and n > 1:
        import numba

        numba.set_num_threads(min(num_threads, numba.config.NUMBA_NUM_THREADS, n))
        run = kernel.search_batch_parallel
    run(lp, lens, opts, fusion.lm, fusion.toks, ctx, nbest, out_tokens, out_lens, out_scores,
        out_count)
    return [[(out_tokens[b, r, :out_lens[b, r]].tolist(), float(out_scores[b, r]))
             for r in range(out_count[b])] for b in range(n)]


def ctc_prefix_beam_search(log_probs: torch.Tensor, lengths: torch.Tensor, beam_size: int = 10,
                           blank: int = 0, token_topk: int | None = None,
                           token_threshold: float | None = None,
                           lm: FusionTables | None = None, num_threads: int = 1,
                           hotwords: ContextGraph | None = None) -> list[list[int]]:
    """The best label sequence per utterance of :func:`ctc_prefix_beam_search_nbest`."""
    nbest = ctc_prefix_beam_search_nbest(log_probs, lengths, beam_size, 1, blank, token_topk,
                                         token_threshold, lm, num_threads, hotwords)
    return [hyps[0][0] if hyps else [] for hyps in nbest]
