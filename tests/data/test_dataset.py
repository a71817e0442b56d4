"""Utterances, FeatsDataset, collate and SpecAugment. The batch sampler:
tests/data/test_sampler.py."""

import kaldiio
import numpy as np
import pytest
import torch

from asr.config.schema import FbankConfig, SpecAugmentConfig
from asr.data.collate import collate
from asr.data.dataset import FeatsDataset, Utterance, filter_feasible, load_utterances
from asr.data.features import write_data_dir_feats
from asr.data.sampler import BucketBatchSampler
from asr.data.tokenizer import load_tokenizer, train_tokenizer
from asr.errors import DataError
from asr.testing import make_data_dir


@pytest.fixture
def data(tmp_path):
    text = make_data_dir(tmp_path / "d", num_utts=6)
    write_data_dir_feats(tmp_path / "d", FbankConfig(sample_rate=8000, num_mel_bins=23))
    train_tokenizer(list(text.values()), tmp_path / "lang", "char")
    return tmp_path / "d", load_tokenizer(tmp_path / "lang")


def test_dataset_and_collate(data):
    d, tok = data
    utts = load_utterances(d, tok)
    ds = FeatsDataset(utts, lambda x, u: x)
    batch = collate([ds[i] for i in range(len(ds))])
    n = len(utts)
    assert batch.feats.shape == (n, max(u.num_frames for u in utts), 23)
    assert batch.feat_lens.tolist() == [u.num_frames for u in utts]
    assert batch.target_lens.tolist() == [len(u.targets) for u in utts]
    assert batch.targets.shape == (n, max(len(u.targets) for u in utts))
    for i, u in enumerate(utts):
        assert batch.utt_ids[i] == u.utt_id
        assert batch.targets[i, : len(u.targets)].tolist() == list(u.targets)
        assert (batch.targets[i, len(u.targets):] == 0).all()
        assert (batch.feats[i, u.num_frames:] == 0).all()
        np.testing.assert_array_equal(batch.feats[i, : u.num_frames].numpy(),
                                      kaldiio.load_mat(u.feats))
        assert tok.decode(u.targets) == u.text


def test_specaugment_is_seeded_per_utterance(data):
    d, tok = data
    utts = load_utterances(d, tok)
    aug = SpecAugmentConfig(max_time_ratio=0.5, max_time_width=30)
    a = FeatsDataset(utts, lambda x, u: x + 1, aug, seed=3)
    b = FeatsDataset(list(reversed(utts)), lambda x, u: x + 1, aug, seed=3)
    assert torch.equal(a[0][1], b[len(utts) - 1][1])  # same utterance, any order
    assert (a[0][1] == 0).any()
    a.set_epoch(2)
    assert not torch.equal(a[0][1], b[len(utts) - 1][1])


def test_text_without_features_and_infeasible(data, tmp_path):
    d, tok = data
    (d / "text").write_text((d / "text").read_text() + "zzz-extra ONE\n")
    with pytest.raises(DataError, match="utterance 'zzz-extra' is not in"):
        load_utterances(d, tok)
    u = Utterance("u", "x", num_frames=12, text="", targets=(3, 3, 4))
    assert filter_feasible([u], lambda t: t // 4 + 1) == [u]  # 4 frames >= 3 + 1 repeat
    with pytest.raises(DataError, match="no utterance left after the length filters"):
        filter_feasible([u], lambda t: t // 4)


def test_time_warp_and_masks_identical_for_any_worker_count(data):
    from torch.utils.data import DataLoader

    from asr.data.augment import time_warp, utterance_generator

    d, tok = data
    utts = load_utterances(d, tok)
    aug = SpecAugmentConfig(time_warp=5, max_time_ratio=0.3)
    ds = FeatsDataset(utts, lambda x, u: x + 1, aug, seed=5)
    ds.set_epoch(3)
    sampler = BucketBatchSampler([u.num_frames for u in utts], 300, seed=1)
    runs = [[(b.utt_ids, b.feats) for b in DataLoader(ds, batch_sampler=sampler,
                                                      collate_fn=collate, num_workers=w)]
            for w in (0, 2)]
    for (ids0, f0), (ids2, f2) in zip(*runs, strict=True):
        assert ids0 == ids2 and torch.equal(f0, f2)
    x = torch.arange(40.0)[:, None].repeat(1, 3)  # (T, D) ramp: warping keeps it monotone
    warped = [time_warp(x, 5, utterance_generator(0, e, "u")) for e in range(20)]
    assert all(w.shape == x.shape and (w.diff(dim=0) >= 0).all() for w in warped)
    assert any(not torch.equal(w, x) for w in warped)
    assert all(w[0, 0] == 0 and w[-1, 0] == 39 for w in warped)  # the ends stay put
