"""Length-bucketed dynamic batches under a padded-frame budget, deterministic in
(seed, epoch), sharded across DDP ranks, resumable at any batch."""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from torch.utils.data import Sampler

log = logging.getLogger(__name__)


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar-length utterances with batch_size x longest <= max_frames.

    Each epoch shuffles the utterances, sorts them by length inside pools of about
    ``pool_batches`` batches (similar lengths without a global order), packs batches and
    shuffles the batch order. With ``sortagrad``, epoch 1 is in ascending length order.

    Under DDP every rank computes the same global batch list and takes every
    ``world_size``-th batch from ``rank`` on; the list is cut to a multiple of
    ``world_size`` so all ranks take the same number of steps (the few dropped batches
    change with the epoch's shuffle). The training loop counts the batches it consumed
    (a prefetching DataLoader runs ahead of the loop, so the sampler cannot know) and
    passes that count to :meth:`set_epoch` and :meth:`state_dict`.
    """

    def __init__(self, lengths: Sequence[int], max_frames: int, max_utts: int = 10**9,
                 shuffle: bool = True, seed: int = 0, sortagrad: bool = False,
                 pool_batches: int = 50, rank: int = 0, world_size: int = 1,
                 drop_uneven: bool = True):
        if max_frames <= 0 or max_utts <= 0:
            raise ValueError("max_frames and max_utts must be positive")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.lengths = list(lengths)
        self.max_frames = max_frames
        self.max_utts = max_utts
        self.shuffle = shuffle
        self.seed = seed
        self.sortagrad = sortagrad
        self.pool_batches = pool_batches
        self.rank = rank
        self.world_size = world_size
        self.drop_uneven = drop_uneven
        self.epoch = 1
        self.start = 0
        self._cached: tuple[int, list[list[int]]] | None = None  # (epoch, its global batches)
        self._fingerprint: str | None = None

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch (1-based) and the number of this rank's batches consumed."""
        self.epoch = epoch
        self.start = start

    def global_batches(self, epoch: int) -> list[list[int]]:
        """Every rank's batches of ``epoch``, in order; the same for the same (seed, epoch).
        The last epoch's list is kept: len() and iteration ask for it in turn."""
        if self._cached is None or self._cached[0] != epoch:
            self._cached = (epoch, self._make_batches(epoch))
        return self._cached[1]

    def _make_batches(self, epoch: int) -> list[list[int]]:
        return bucket_batches(range(len(self.lengths)), self.lengths, self.max_frames,
                              self.max_utts, self.pool_batches,
                              None if not self.shuffle or (self.sortagrad and epoch == 1)
                              else random.Random(f"{self.seed}/{epoch}"))

    def batches(self, epoch: int) -> list[list[int]]:
        """This rank's batches of ``epoch``."""
        batches = self.global_batches(epoch)
        if self.world_size == 1:
            return batches
        if self.drop_uneven:
            batches = batches[:len(batches) - len(batches) % self.world_size]
        return batches[self.rank::self.world_size]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches(self.epoch)[self.start:]

    def __len__(self) -> int:
        return len(self.batches(self.epoch)) - self.start

    def fingerprint(self) -> str:
        """A digest of what decides the batches: a resumed epoch must see the same ones."""
        if self._fingerprint is None:  # the inputs never change after construction
            key = repr((self.lengths, self.max_frames, self.max_utts, self.shuffle, self.seed,
                        self.sortagrad, self.pool_batches))
            self._fingerprint = hashlib.sha1(key.encode()).hexdigest()[:16]
        return self._fingerprint

    def state_dict(self, epoch: int, consumed: int) -> dict[str, Any]:
        """The position after this rank consumed ``consumed`` batches of ``epoch`` (the
        loop's count: a prefetching DataLoader runs ahead, so the sampler cannot know)."""
        return position_state(epoch, consumed, self.world_size, self.fingerprint())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Strict (every key used, none left over). A resume on another number of ranks
        maps the consumed count onto the new sharding (at most world_size - 1 batches are
        seen twice); a resume on other data or batch settings restarts the epoch's
        remaining batches from the new list, with a warning."""
        self.set_epoch(*resumed_position(state, self.world_size, self.fingerprint(),
                                         type(self).__name__))


def position_state(epoch: int, consumed: int, world_size: int, fingerprint: str
                   ) -> dict[str, Any]:
    """A batch plan's checkpointed position: ``consumed`` batches of ``epoch`` on each of
    ``world_size`` ranks, over the batches ``fingerprint`` digests."""
    return {"epoch": epoch, "start": consumed, "world_size": world_size,
            "fingerprint": fingerprint}


def resumed_position(state: dict[str, Any], world_size: int, fingerprint: str, owner: str
                     ) -> tuple[int, int]:
    """(epoch, start) to resume at from a :func:`position_state` (strict: every key used,
    none left over): the consumed count mapped onto another rank count, and a warning when
    the batches changed (other data, settings or workers) since the checkpoint."""
    state = dict(state)
    epoch, start = state.pop("epoch"), state.pop("start")
    saved_world, saved_print = state.pop("world_size"), state.pop("fingerprint")
    if state:
        raise KeyError(f"{owner}.load_state_dict: unexpected keys {sorted(state)}")
    if saved_world != world_size:
        log.warning("resuming on %d ranks a checkpoint made on %d: batch position mapped",
                    world_size, saved_world)
        start = start * saved_world // world_size
    if saved_print != fingerprint:
        log.warning("the training data or batch settings changed since the checkpoint; "
                    "epoch %d continues at batch %d of the new batch list", epoch, start)
    return epoch, start


def pack_batches(order: Iterable[int], lengths: Sequence[int], max_frames: int,
                 max_utts: int) -> list[list[int]]:
    """Consecutive items of ``order`` cut into batches of at most ``max_utts`` items with
    items x longest <= ``max_frames`` (an item longer than the budget is a batch alone)."""
    batches: list[list[int]] = []
    cur: list[int] = []
    longest = 0
    for i in order:
        n = lengths[i]
        if cur and (max(longest, n) * (len(cur) + 1) > max_frames or len(cur) >= max_utts):
            batches.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, n)
    if cur:
        batches.append(cur)
    return batches


def bucket_batches(items: Iterable[int], lengths: Sequence[int], max_frames: int,
                   max_utts: int, pool_batches: int, rng: random.Random | None
                   ) -> list[list[int]]:
    """Length-bucketed batches of ``items`` (indices into ``lengths``).

    Without ``rng``: every item in ascending length order (ties by index). With it: the
    items shuffled, sorted by length inside pools of about ``pool_batches`` batches
    (similar lengths without a global order), packed, and the batch order shuffled.
    Used by the data-dir sampler on the whole set and by the shard plan per buffer.
    """
    items = list(items)
    if rng is None:
        return pack_batches(sorted(items, key=lambda i: (lengths[i], i)), lengths, max_frames,
                            max_utts)
    rng.shuffle(items)
    mean_len = max(1, sum(lengths[i] for i in items) // max(1, len(items)))
    per_batch = max(1, min(max_utts, max_frames // mean_len))
    pool = max(1, per_batch * pool_batches)
    batches: list[list[int]] = []
    for k in range(0, len(items), pool):
        chunk = sorted(items[k:k + pool], key=lambda i: lengths[i])
        batches.extend(pack_batches(chunk, lengths, max_frames, max_utts))
    rng.shuffle(batches)
    return batches
