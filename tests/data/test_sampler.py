"""BucketBatchSampler: the frame budget, SortaGrad, determinism per (seed, epoch),
mid-epoch resume through state_dict, and DDP sharding."""

import numpy as np
import pytest

from asr.data.sampler import BucketBatchSampler


def test_sampler_budget_determinism_sortagrad_and_resume():
    lengths = [int(x) for x in np.random.default_rng(0).integers(50, 500, 300)]
    s = BucketBatchSampler(lengths, max_frames=2000, seed=7, sortagrad=True, pool_batches=5)
    first = s.batches(1)
    flat = [i for b in first for i in b]
    assert [lengths[i] for i in flat] == sorted(lengths)  # SortaGrad: ascending in epoch 1
    for epoch in (1, 2, 3):
        batches = s.batches(epoch)
        assert sorted(i for b in batches for i in b) == list(range(300))
        assert all(len(b) * max(lengths[i] for i in b) <= 2000 for b in batches)
    assert s.batches(2) == BucketBatchSampler(lengths, 2000, seed=7, pool_batches=5).batches(2)
    assert s.batches(2) != s.batches(3)
    s.set_epoch(2, start=4)
    assert list(s) == s.batches(2)[4:] and len(s) == len(s.batches(2)) - 4


def test_sampler_state_dict_resumes_mid_epoch_with_the_same_utterances():
    lengths = [int(x) for x in np.random.default_rng(1).integers(50, 500, 200)]
    full = BucketBatchSampler(lengths, max_frames=2000, seed=3)
    full.set_epoch(2)
    uninterrupted = list(full)
    run = BucketBatchSampler(lengths, max_frames=2000, seed=3)
    run.set_epoch(2)
    it = iter(run)
    seen = [next(it) for _ in range(5)]
    state = run.state_dict(2, consumed=5)  # what the loop records after consuming 5 batches
    assert run.start == 0  # recording the position does not move the sampler
    resumed = BucketBatchSampler(lengths, max_frames=2000, seed=3)
    resumed.load_state_dict(state)
    assert seen + list(resumed) == uninterrupted
    with pytest.raises(KeyError, match="unexpected keys"):
        resumed.load_state_dict({**state, "extra": 1})
    with pytest.raises(KeyError):
        resumed.load_state_dict({"epoch": 2})


def test_sampler_shards_ddp_ranks_evenly_and_disjointly():
    lengths = [int(x) for x in np.random.default_rng(2).integers(50, 500, 101)]
    ranks = [BucketBatchSampler(lengths, 2000, seed=5, rank=r, world_size=3) for r in range(3)]
    whole = BucketBatchSampler(lengths, 2000, seed=5).batches(4)
    shards = [s.batches(4) for s in ranks]
    assert len({len(b) for b in shards}) == 1  # the same number of steps on every rank
    taken = [i for b in shards for batch in b for i in batch]
    assert len(taken) == len(set(taken))  # no utterance on two ranks
    kept = whole[:len(whole) - len(whole) % 3]
    assert sorted(taken) == sorted(i for batch in kept for i in batch)
    dev = [BucketBatchSampler(lengths, 2000, shuffle=False, rank=r, world_size=3,
                              drop_uneven=False).batches(1) for r in range(3)]
    assert sorted(i for b in dev for batch in b for i in batch) == list(range(101))
