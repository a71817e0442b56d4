"""Pad a list of utterances into one batch."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.nn.utils.rnn import pad_sequence

from asr.errors import DataError


@dataclass
class Batch:
    feats: torch.Tensor  # (N, T, D), zero padded
    feat_lens: torch.Tensor  # (N,)
    targets: torch.Tensor  # (N, L), zero padded (0 is blank, never a target)
    target_lens: torch.Tensor  # (N,)
    utt_ids: list[str]
    texts: list[str]  # the transcripts, for scoring without going back to the dataset
    skipped: list[str] = field(default_factory=list)  # unreadable, dropped (data.skip_bad)

    def to(self, device: torch.device) -> Batch:
        return Batch(self.feats.to(device, non_blocking=True), self.feat_lens.to(device),
                     self.targets.to(device), self.target_lens.to(device), self.utt_ids,
                     self.texts, self.skipped)

    @property
    def num_frames(self) -> int:
        return int(self.feat_lens.sum())


def collate(items: list[tuple[str, torch.Tensor | None, torch.Tensor | None, str]]) -> Batch:
    """Pad items into a Batch; items without features (unreadable, skipped by the Dataset)
    are dropped and their ids listed in ``Batch.skipped``."""
    kept = [it for it in items if it[1] is not None]
    if not kept:
        raise DataError(f"every utterance of a batch of {len(items)} was unreadable; "
                        "see the warnings above")
    ids, feats, targets, texts = zip(*kept, strict=True)
    return Batch(
        feats=pad_sequence(list(feats), batch_first=True),
        feat_lens=torch.tensor([f.shape[0] for f in feats], dtype=torch.long),
        targets=pad_sequence(list(targets), batch_first=True),
        target_lens=torch.tensor([t.shape[0] for t in targets], dtype=torch.long),
        utt_ids=list(ids),
        texts=list(texts),
        skipped=[it[0] for it in items if it[1] is None],
    )
