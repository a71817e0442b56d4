"""CTC feasibility and search over (N, T, V) log-probabilities, blank = 0."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import torch


def ctc_min_input_length(targets: Sequence[int]) -> int:
    """Fewest frames CTC needs for ``targets``: L plus one blank per adjacent repeat.

    With fewer frames no alignment exists and the CTC loss is infinite.
    """
    repeats = sum(1 for a, b in zip(targets, targets[1:], strict=False) if a == b)
    return len(targets) + repeats


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


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


def ctc_prefix_beam_search(log_probs: torch.Tensor, lengths: torch.Tensor, beam_size: int = 10,
                           blank: int = 0, token_topk: int | None = None,
                           token_threshold: float | None = None) -> list[list[int]]:
    """CTC prefix beam search (Hannun et al., 2014) in log space; best prefix per utterance.

    Each prefix keeps two scores: ending in blank and ending in its last token, so a
    repeated token is only extended after a blank. ``token_topk`` and ``token_threshold``
    prune the tokens considered per frame (blank is always kept).
    """
    lp = log_probs.detach().float().cpu()
    results: list[list[int]] = []
    for b, n in enumerate(lengths.cpu().tolist()):
        beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}
        for t in range(n):
            frame = lp[b, t]
            if token_topk is not None and token_topk < frame.numel():
                cand = frame.topk(token_topk).indices.tolist()
            else:
                cand = list(range(frame.numel()))
            if token_threshold is not None:
                cand = [c for c in cand if frame[c] >= token_threshold]
            if blank not in cand:
                cand.append(blank)
            values = frame.tolist()
            nxt: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
            for prefix, (pb, pnb) in beams.items():
                total = _logaddexp(pb, pnb)
                for c in cand:
                    p = values[c]
                    if c == blank:
                        e = nxt[prefix]
                        e[0] = _logaddexp(e[0], total + p)
                        continue
                    last = prefix[-1] if prefix else None
                    ext = nxt[(*prefix, c)]
                    if c == last:
                        # repeat: extend only from a blank-ending path; else it collapses
                        ext[1] = _logaddexp(ext[1], pb + p)
                        same = nxt[prefix]
                        same[1] = _logaddexp(same[1], pnb + p)
                    else:
                        ext[1] = _logaddexp(ext[1], total + p)
            ranked = sorted(nxt.items(), key=lambda kv: _logaddexp(*kv[1]), reverse=True)
            beams = {k: (v[0], v[1]) for k, v in ranked[:beam_size]}
        best = max(beams.items(), key=lambda kv: _logaddexp(*kv[1]))[0]
        results.append(list(best))
    return results
