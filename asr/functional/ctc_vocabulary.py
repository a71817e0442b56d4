"""Closed-vocabulary CTC decoding: each utterance is one entry of a given list.

For isolated words or commands (Speech Commands, keyword lists) the best answer is the
entry of highest posterior, log P(entry | x) + log prior(entry). Scoring every entry
with the CTC forward algorithm (``ctc_loss``) is exact and, for tens to thousands of
entries, cheaper than a beam search that can still leave the vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def ctc_vocabulary_scores(log_probs: torch.Tensor, lengths: torch.Tensor,
                          vocabulary: Sequence[Sequence[int]], blank: int = 0,
                          chunk: int = 256) -> torch.Tensor:
    """(N, W) log P(entry w | utterance n) under CTC: log_probs (N, T, V) log-softmax
    outputs, lengths (N,), vocabulary W token-id sequences (non-empty, no blank). Entries
    too long for an utterance's frames score -inf. ``chunk`` entries are scored at once."""
    if not vocabulary or any(len(v) == 0 or blank in v for v in vocabulary):
        raise ValueError("every vocabulary entry needs at least one token and no blank")
    n, t, _ = log_probs.shape
    lp = log_probs.float().transpose(0, 1)  # (T, N, V) for ctc_loss
    scores = []
    for start in range(0, len(vocabulary), chunk):
        entries = vocabulary[start:start + chunk]
        w = len(entries)
        # every (utterance, entry) pair is one CTC problem: utterance-major, entry-minor
        tiled = lp.unsqueeze(2).expand(t, n, w, lp.shape[-1]).reshape(t, n * w, -1)
        targets = torch.tensor([i for e in entries for i in e] * n, dtype=torch.long)
        target_lens = torch.tensor([len(e) for e in entries] * n, dtype=torch.long)
        input_lens = lengths.cpu().long().repeat_interleave(w)
        nll = F.ctc_loss(tiled.cpu(), targets, input_lens, target_lens, blank=blank,
                         reduction="none", zero_infinity=False)
        scores.append(-nll.view(n, w))
    return torch.cat(scores, dim=1)


def ctc_vocabulary_search(log_probs: torch.Tensor, lengths: torch.Tensor,
                          vocabulary: Sequence[Sequence[int]],
                          log_prior: Sequence[float] | None = None, blank: int = 0
                          ) -> list[list[int]]:
    """The token ids of each utterance's best vocabulary entry: argmax over entries of
    CTC log-likelihood plus ``log_prior`` (one log-probability per entry; uniform when
    None). No tokens (a rejection) for an utterance too short for every entry, or whose
    all-blank path is likelier than its best entry: silence or noise the model hears no
    word in, where forcing the argmax would answer a word."""
    likelihood = ctc_vocabulary_scores(log_probs, lengths, vocabulary, blank)
    scores = likelihood
    if log_prior is not None:
        if len(log_prior) != len(vocabulary):
            raise ValueError(f"{len(log_prior)} prior log-probs for {len(vocabulary)} entries")
        scores = scores + torch.tensor(log_prior, dtype=scores.dtype)
    valid = torch.arange(log_probs.shape[1])[None] < lengths.cpu()[:, None]  # (N, T)
    nothing = (log_probs.float().cpu()[..., blank] * valid).sum(dim=1)  # log P(empty | x)
    best = scores.argmax(dim=1).tolist()
    return [list(vocabulary[b]) if torch.isfinite(scores[i, b])
            and likelihood[i, b] >= nothing[i] else [] for i, b in enumerate(best)]
