"""Length-bucketed dynamic batches under a padded-frame budget, deterministic in
(seed, epoch), resumable at any batch."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from torch.utils.data import Sampler


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar-length utterances with batch_size x longest <= max_frames.

    Each epoch shuffles the utterances, sorts them by length inside pools of about
    ``pool_batches`` batches (similar lengths without a global order), packs batches and
    shuffles the batch order. With ``sortagrad``, epoch 1 is in ascending length order.
    The training loop counts consumed batches and passes ``start`` to resume mid-epoch.
    """

    def __init__(self, lengths: Sequence[int], max_frames: int, max_utts: int = 10**9,
                 shuffle: bool = True, seed: int = 0, sortagrad: bool = False,
                 pool_batches: int = 50):
        if max_frames <= 0 or max_utts <= 0:
            raise ValueError("max_frames and max_utts must be positive")
        self.lengths = list(lengths)
        self.max_frames = max_frames
        self.max_utts = max_utts
        self.shuffle = shuffle
        self.seed = seed
        self.sortagrad = sortagrad
        self.pool_batches = pool_batches
        self.epoch = 1
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch (1-based) and the number of its batches already consumed."""
        self.epoch = epoch
        self.start = start

    def _pack(self, order: list[int]) -> list[list[int]]:
        batches: list[list[int]] = []
        cur: list[int] = []
        longest = 0
        for i in order:
            n = self.lengths[i]
            if cur and (max(longest, n) * (len(cur) + 1) > self.max_frames
                        or len(cur) >= self.max_utts):
                batches.append(cur)
                cur, longest = [], 0
            cur.append(i)
            longest = max(longest, n)
        if cur:
            batches.append(cur)
        return batches

    def batches(self, epoch: int) -> list[list[int]]:
        """The full batch list of ``epoch``; the same for the same (seed, epoch)."""
        by_len = sorted(range(len(self.lengths)), key=lambda i: (self.lengths[i], i))
        if not self.shuffle or (self.sortagrad and epoch == 1):
            return self._pack(by_len)
        rng = random.Random(f"{self.seed}/{epoch}")
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        mean_len = max(1, sum(self.lengths) // max(1, len(self.lengths)))
        per_batch = max(1, min(self.max_utts, self.max_frames // mean_len))
        pool = max(1, per_batch * self.pool_batches)
        batches: list[list[int]] = []
        for k in range(0, len(order), pool):
            chunk = sorted(order[k:k + pool], key=lambda i: self.lengths[i])
            batches.extend(self._pack(chunk))
        rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches(self.epoch)[self.start:]

    def __len__(self) -> int:
        return len(self.batches(self.epoch)) - self.start
