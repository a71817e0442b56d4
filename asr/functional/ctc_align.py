"""CTC forced alignment: the most likely CTC path that spells a given token sequence.

One alignment serves every search: the hypothesis of greedy, prefix beam (with or without
an LM or hotwords) or a stream, aligned to the log-probs it came from, gives each token's
frames; a known transcript aligned the same way is forced alignment. The Viterbi pass is
torchaudio's ``forced_align`` (compiled; a back-pointer byte per frame and path state)
while that trellis stays under ``max_trellis_bytes``, and our checkpointed one
(:mod:`asr.functional._viterbi_kernel`, the same path in sqrt(T)-bounded memory) above, so
an hour of audio aligns in megabytes; the spans are ours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torchaudio.functional as taf

from asr.functional._viterbi_kernel import viterbi_checkpointed

# torchaudio's trellis above this many bytes (frames x path states): the checkpointed pass
MAX_TRELLIS_BYTES = 64 * 1024**2


class AlignmentError(ValueError):
    """The tokens cannot be aligned to the frames: too few frames for them (a CTC path
    needs one frame per token and a blank between two equal ones)."""


@dataclass(frozen=True)
class TokenSpan:
    """One token of an alignment: its frames [start, end) and the frame of its highest
    posterior (``peak``, where a CTC spike sits), all model output frames."""

    token: int
    start: int
    end: int
    peak: int


def min_frames(tokens: Sequence[int]) -> int:
    """Frames a CTC path spelling ``tokens`` needs: one per token, one more between repeats."""
    return len(tokens) + sum(a == b for a, b in zip(tokens, tokens[1:], strict=False))


def ctc_align(log_probs: torch.Tensor, tokens: Sequence[int], blank: int = 0,
              max_trellis_bytes: int = MAX_TRELLIS_BYTES
              ) -> tuple[list[TokenSpan], float, torch.Tensor]:
    """Align ``tokens`` to log_probs (T, V): their spans, the path's log-probability and
    the label of each frame (T,) (``blank`` on blank frames). A (T, 2L+1) trellis over
    ``max_trellis_bytes`` goes through the checkpointed Viterbi (same path, less memory).

    Raises :class:`AlignmentError` when T frames cannot hold the tokens.
    """
    lp = log_probs.detach().float().cpu()
    t = lp.shape[0]
    if min_frames(tokens) > t:
        raise AlignmentError(f"{len(tokens)} tokens need {min_frames(tokens)} frames, "
                             f"the log-probs have {t}")
    if not tokens:
        labels = torch.full((t,), blank, dtype=torch.long)
        return [], float(lp[:, blank].sum()), labels
    if t * (2 * len(tokens) + 1) > max_trellis_bytes:
        labels, score = viterbi_bounded(lp, tokens, blank)
        return spans_of_path(labels, lp, blank), score, labels
    targets = torch.tensor([list(tokens)], dtype=torch.int32)
    path, scores = taf.forced_align(lp[None], targets, blank=blank)
    labels = path[0].long()
    return spans_of_path(labels, lp, blank), float(scores.sum()), labels


def viterbi_bounded(log_probs: torch.Tensor, tokens: Sequence[int], blank: int = 0
                    ) -> tuple[torch.Tensor, float]:
    """The best CTC path spelling ``tokens`` (non-empty, alignable) through log_probs
    (T, V): each frame's label (T,) and the path's log-probability, in memory of about
    2 sqrt(8T) (2L+1) bytes (checkpoints every K = sqrt(8T) frames, K rows of
    back-pointers), where torchaudio's trellis takes T (2L+1) (and torchaudio 2.11 crashed
    on one of 2.7 GB here: a segmentation fault, not an error)."""
    lp = np.ascontiguousarray(log_probs.detach().float().cpu().numpy())
    t = lp.shape[0]
    ext = np.full(2 * len(tokens) + 1, blank, np.int64)
    ext[1::2] = tokens
    skip = np.zeros(ext.size, np.bool_)
    skip[3::2] = ext[3::2] != ext[1:-2:2]  # token i may follow token i-1 without a blank
    block = max(1, math.isqrt(8 * t))  # balances (T / K) * S * 8 and K * S bytes
    checkpoints = np.empty((-(-t // block), ext.size), np.float64)
    back = np.empty((block, ext.size), np.int8)
    states = np.empty(t, np.int64)
    score = viterbi_checkpointed(lp, ext, skip, block, checkpoints, back, states)
    return torch.from_numpy(ext[states]), float(score)


def spans_of_path(labels: torch.Tensor, log_probs: torch.Tensor, blank: int = 0
                  ) -> list[TokenSpan]:
    """The token spans of a frame-label path (T,): a new span starts where the label
    changes to a non-blank one (a repeated token needs blank frames between)."""
    lab = labels.tolist()
    spans = []
    start = None
    for i in range(len(lab) + 1):
        cur = lab[i] if i < len(lab) else blank
        prev = lab[i - 1] if i > 0 else blank
        if start is not None and cur != prev:
            frames = log_probs[start:i, prev]
            spans.append(TokenSpan(prev, start, i, start + int(frames.argmax())))
            start = None
        if cur != blank and cur != prev:
            start = i
    return spans
