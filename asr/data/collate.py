"""Pad a list of utterances into one batch."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import pad_sequence


@dataclass
class Batch:
    feats: torch.Tensor  # (N, T, D), zero padded
    feat_lens: torch.Tensor  # (N,)
    targets: torch.Tensor  # (N, L), zero padded (0 is blank, never a target)
    target_lens: torch.Tensor  # (N,)
    utt_ids: list[str]

    def to(self, device: torch.device) -> Batch:
        return Batch(self.feats.to(device, non_blocking=True), self.feat_lens.to(device),
                     self.targets.to(device), self.target_lens.to(device), self.utt_ids)

    @property
    def num_frames(self) -> int:
        return int(self.feat_lens.sum())


def collate(items: list[tuple[str, torch.Tensor, torch.Tensor]]) -> Batch:
    ids, feats, targets = zip(*items, strict=True)
    return Batch(
        feats=pad_sequence(list(feats), batch_first=True),
        feat_lens=torch.tensor([f.shape[0] for f in feats], dtype=torch.long),
        targets=pad_sequence(list(targets), batch_first=True),
        target_lens=torch.tensor([t.shape[0] for t in targets], dtype=torch.long),
        utt_ids=list(ids),
    )
