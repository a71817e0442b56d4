"""CTC forced alignment: the most likely CTC path that spells a given token sequence.

One alignment serves every search: the hypothesis of greedy, prefix beam (with or without
an LM or hotwords) or a stream, aligned to the log-probs it came from, gives each token's
frames; a known transcript aligned the same way is forced alignment. The Viterbi pass is
torchaudio's ``forced_align`` (compiled; the trellis is (T, 2L+1)), the spans are ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torchaudio.functional as taf


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


def ctc_align(log_probs: torch.Tensor, tokens: Sequence[int], blank: int = 0
              ) -> tuple[list[TokenSpan], float, torch.Tensor]:
    """Align ``tokens`` to log_probs (T, V): their spans, the path's log-probability and
    the label of each frame (T,) (``blank`` on blank frames).

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
    targets = torch.tensor([list(tokens)], dtype=torch.int32)
    path, scores = taf.forced_align(lp[None], targets, blank=blank)
    labels = path[0].long()
    return spans_of_path(labels, lp, blank), float(scores.sum()), labels


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
