"""Which batches each rank and each reader makes of a shard dir, epoch by epoch, from the
cut lengths in its index alone (no shard is opened to plan).

An epoch: the shards in a seeded order; rank r reads shards r, r + world, ... of it;
consecutive groups of ``buffer_shards`` of those are read into memory together (the
shuffle buffer) and their cuts become length-bucketed batches with the same algorithm as
the data-dir sampler (:func:`asr.data.sampler.bucket_batches`, one seeded RNG per rank
and epoch). Buffers are dealt to ``lanes`` readers (DataLoader workers) in turn, and the
rank's batch order is the lanes' batches taken round-robin, which is the order a
DataLoader returns its workers' batches in. Ranks cut their lists to the shortest, so
all take the same number of steps.

Everything is a function of (seed, epoch, rank, world size, lanes, lengths), so a
resumed run recomputes the plan and continues at the consumed count: each lane skips the
buffers it finished without reading them and rereads only the one it was in.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asr.data.sampler import bucket_batches, position_state, resumed_position
from asr.errors import DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannedBatch:
    lane: int
    buffer: int  # index into the rank's buffers of the epoch
    cuts: tuple[int, ...]  # global cut numbers (shard-major, in index order)


@dataclass(frozen=True)
class EpochPlan:
    buffers: list[tuple[int, ...]]  # shard numbers of each buffer, ascending
    batches: list[PlannedBatch]  # in the order the rank trains on them (already cut)


class ShardPlan:
    """The batch plan of one rank; the training loop drives it as it drives the data-dir
    sampler (:meth:`set_epoch`, ``len``, :meth:`state_dict`, :meth:`load_state_dict`)."""

    def __init__(self, shard_lengths: Sequence[Sequence[int]], max_frames: int, max_utts: int,
                 shuffle: bool = True, seed: int = 0, sortagrad: bool = False,
                 pool_batches: int = 50, buffer_shards: int = 4, rank: int = 0,
                 world_size: int = 1, lanes: int = 1, drop_uneven: bool = True,
                 frame_bounds: tuple[int, int] = (0, 0)):
        if max_frames <= 0 or max_utts <= 0 or buffer_shards <= 0 or lanes <= 0:
            raise ValueError("max_frames, max_utts, buffer_shards and lanes must be positive")
        if drop_uneven and len(shard_lengths) < world_size:  # a rank with nothing to train on
            raise DataError(f"{len(shard_lengths)} shards for {world_size} ranks: every rank "
                            "reads shards of its own; write the data with a smaller shard size")
        self.first_cut = [0]
        for lengths in shard_lengths:
            self.first_cut.append(self.first_cut[-1] + len(lengths))
        self.lengths = [n for lengths in shard_lengths for n in lengths]
        self.num_shards = len(shard_lengths)
        self.max_frames, self.max_utts = max_frames, max_utts
        self.shuffle, self.seed, self.sortagrad = shuffle, seed, sortagrad
        self.pool_batches, self.buffer_shards = pool_batches, buffer_shards
        self.rank, self.world_size, self.lanes = rank, world_size, lanes
        self.drop_uneven, self.frame_bounds = drop_uneven, frame_bounds
        self.epoch, self.start = 1, 0
        self._cached: tuple[int, EpochPlan] | None = None
        self._fingerprint: str | None = None

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch (1-based) and the number of this rank's batches consumed."""
        self.epoch, self.start = epoch, start

    def shard_of(self, cut: int) -> tuple[int, int]:
        """(shard number, position in it) of global cut number ``cut``."""
        lo, hi = 0, self.num_shards
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if self.first_cut[mid] <= cut else (lo, mid)
        return lo, cut - self.first_cut[lo]

    def _rank_batches(self, epoch: int, rank: int) -> tuple[list[tuple[int, ...]],
                                                             list[PlannedBatch]]:
        shards = list(range(self.num_shards))
        if self.shuffle:
            random.Random(f"{self.seed}/{epoch}/shards").shuffle(shards)
        mine = shards[rank::self.world_size]
        buffers = [tuple(sorted(mine[k:k + self.buffer_shards]))
                   for k in range(0, len(mine), self.buffer_shards)]
        sort_only = not self.shuffle or (self.sortagrad and epoch == 1)
        rng = None if sort_only else random.Random(f"{self.seed}/{epoch}")
        lo, hi = self.frame_bounds
        per_lane: list[list[PlannedBatch]] = [[] for _ in range(self.lanes)]
        for b, buffer in enumerate(buffers):
            cuts = [c for s in buffer for c in range(self.first_cut[s], self.first_cut[s + 1])
                    if self.lengths[c] >= lo and (not hi or self.lengths[c] <= hi)]
            for batch in bucket_batches(cuts, self.lengths, self.max_frames, self.max_utts,
                                        self.pool_batches, rng):
                per_lane[b % self.lanes].append(PlannedBatch(b % self.lanes, b, tuple(batch)))
        ordered, k = [], 0
        while any(k < len(lane) for lane in per_lane):  # the DataLoader's round-robin
            ordered += [lane[k] for lane in per_lane if k < len(lane)]
            k += 1
        return buffers, ordered

    def plan(self, epoch: int) -> EpochPlan:
        """This rank's buffers and batches of ``epoch`` (cut to the shortest rank's count
        under ``drop_uneven``); the last epoch's plan is kept."""
        if self._cached is None or self._cached[0] != epoch:
            buffers, batches = self._rank_batches(epoch, self.rank)
            if self.drop_uneven and self.world_size > 1:
                fewest = min(len(self._rank_batches(epoch, r)[1]) if r != self.rank
                             else len(batches) for r in range(self.world_size))
                batches = batches[:fewest]
            self._cached = (epoch, EpochPlan(buffers, batches))
        return self._cached[1]

    def batches(self, epoch: int) -> list[PlannedBatch]:
        """This rank's batches of ``epoch``, in training order."""
        return self.plan(epoch).batches

    def remaining(self, lane: int | None = None) -> list[PlannedBatch]:
        """The batches of the selected epoch from ``start`` on (of one lane, when given)."""
        rest = self.plan(self.epoch).batches[self.start:]
        return rest if lane is None else [b for b in rest if b.lane == lane]

    def first_lane(self) -> int:
        """The lane of the next batch: the DataLoader's worker 0 must read it."""
        rest = self.remaining()
        return rest[0].lane if rest else 0

    def __len__(self) -> int:
        return len(self.remaining())

    def fingerprint(self) -> str:
        """A digest of what decides the batches: a resumed epoch must see the same ones."""
        if self._fingerprint is None:  # the inputs never change after construction
            key = repr((self.lengths, self.max_frames, self.max_utts, self.shuffle, self.seed,
                        self.sortagrad, self.pool_batches, self.buffer_shards, self.lanes,
                        self.frame_bounds, self.first_cut))
            self._fingerprint = hashlib.sha1(key.encode()).hexdigest()[:16]
        return self._fingerprint

    def state_dict(self, epoch: int, consumed: int) -> dict[str, Any]:
        """The position after this rank consumed ``consumed`` batches of ``epoch``."""
        return position_state(epoch, consumed, self.world_size, self.fingerprint())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Strict, as the data-dir sampler's. Another rank count gives every rank other
        shards: the consumed count is mapped and the epoch goes on over other batches."""
        self.set_epoch(*resumed_position(state, self.world_size, self.fingerprint(),
                                         type(self).__name__))
