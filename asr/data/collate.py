"""Pad a list of utterances into one batch."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch.nn.utils.rnn import pad_sequence

from asr.errors import DataError


@dataclass
class Batch:
    """N utterances; with ``views`` = V > 1 (CR-CTC) the tensors hold V x N rows, view v of
    utterance i at row v * N + i, while the id lists and ``num_frames`` count each once."""

    feats: torch.Tensor  # (V*N, T, D), zero padded
    feat_lens: torch.Tensor  # (V*N,)
    targets: torch.Tensor  # (V*N, L), zero padded (0 is blank, never a target)
    target_lens: torch.Tensor  # (V*N,)
    utt_ids: list[str]
    texts: list[str]  # the transcripts, for scoring without going back to the dataset
    # sum of feat_lens, counted when collating so that reading it never waits on a device
    num_frames: int
    skipped: list[str] = field(default_factory=list)  # unreadable, dropped (data.skip_bad)
    views: int = 1

    def to(self, device: torch.device) -> Batch:
        """The tensors on ``device``; from pinned memory (see :meth:`pin_memory`) the copies
        are asynchronous, so the host queues the step's kernels without waiting on them."""
        return replace(self, feats=self.feats.to(device, non_blocking=True),
                       feat_lens=self.feat_lens.to(device, non_blocking=True),
                       targets=self.targets.to(device, non_blocking=True),
                       target_lens=self.target_lens.to(device, non_blocking=True))

    def pin_memory(self) -> Batch:
        """Page-locked copies of the tensors: the DataLoader calls this (``pin_memory=True``)
        in its own thread; it passes through objects without this method unpinned."""
        return replace(self, feats=self.feats.pin_memory(),
                       feat_lens=self.feat_lens.pin_memory(),
                       targets=self.targets.pin_memory(),
                       target_lens=self.target_lens.pin_memory())


def collate(items: list[tuple[str, torch.Tensor | None, torch.Tensor | None, str]]) -> Batch:
    """Pad items into a Batch; items without features (unreadable, skipped by the Dataset)
    are dropped and their ids listed in ``Batch.skipped``."""
    kept = [it for it in items if it[1] is not None]
    if not kept:
        raise DataError(f"every utterance of a batch of {len(items)} was unreadable; "
                        "see the warnings above")
    ids, feats, targets, texts = zip(*kept, strict=True)
    views = feats[0].shape[0] if feats[0].dim() == 3 else 1
    if views > 1:  # (V, T, D) items: every view of every utterance, view-major
        feats = [f[v] for v in range(views) for f in feats]
        targets = list(targets) * views
    feat_lens = [f.shape[0] for f in feats]
    return Batch(
        feats=pad_sequence(list(feats), batch_first=True),
        feat_lens=torch.tensor(feat_lens, dtype=torch.long),
        targets=pad_sequence(list(targets), batch_first=True),
        target_lens=torch.tensor([t.shape[0] for t in targets], dtype=torch.long),
        utt_ids=list(ids),
        texts=list(texts),
        num_frames=sum(feat_lens[:len(ids)]),
        skipped=[it[0] for it in items if it[1] is None],
        views=views,
    )
