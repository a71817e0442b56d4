"""The four data paths (Kaldi or lhotse x precomputed or on-the-fly) give the same items;
duration bounds and on-the-fly speed perturbation apply to training data only."""

import logging
import platform

import pytest
import torch

from asr.config import config_from_dict
from asr.config.schema import ExperimentConfig, FbankConfig
from asr.data import cmvn_stats
from asr.data.features import write_data_dir_feats
from asr.data.lhotse_io import import_data_dir
from asr.data.pipeline import build_datasets
from asr.data.tokenizer import load_tokenizer, train_tokenizer
from asr.errors import ConfigError
from asr.testing import make_data_dir, make_train_corpus

CFG = FbankConfig(sample_rate=8000, num_mel_bins=23)


def exp_config(**data) -> ExperimentConfig:
    return config_from_dict(ExperimentConfig, {"data": {"cmvn": "global", **data},
                                               "specaug": {"enabled": False}})


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipe")
    text = make_data_dir(root / "pre", num_utts=6)
    make_data_dir(root / "fly", num_utts=6)
    write_data_dir_feats(root / "pre", CFG)
    write_data_dir_feats(root / "fly", CFG, write_feats=False)
    for d in ("pre", "fly"):
        cmvn_stats.save_stats(root / d / "cmvn.ark", cmvn_stats.data_dir_stats(root / d))
        import_data_dir(root / d, root / f"cuts_{d}")
    exp = root / "exp"
    exp.mkdir()
    (exp / "cmvn.ark").write_bytes((root / "pre" / "cmvn.ark").read_bytes())
    train_tokenizer(list(text.values()), root / "lang", "char")
    return root, exp, load_tokenizer(root / "lang")


def test_all_paths_give_identical_items(dirs):
    root, exp, tok = dirs
    assert (root / "fly" / "cmvn.ark").read_bytes() == (root / "pre" / "cmvn.ark").read_bytes()
    items = {}
    for source, features, d in (("kaldi", "precomputed", "pre"), ("kaldi", "on_the_fly", "fly"),
                                ("lhotse", "precomputed", "cuts_pre"),
                                ("lhotse", "on_the_fly", "cuts_fly")):
        cfg = exp_config(source=source, features=features)
        train, dev = build_datasets(cfg, exp / "cmvn.ark", root / d, root / d, tok, CFG,
                                    lambda t: t // 4)
        assert train.plan.lengths == dev.plan.lengths and len(train.plan.lengths) == 6
        items[(source, features)] = [train.dataset[i] for i in range(6)], train.plan.lengths
    ref_items, ref_lengths = items[("kaldi", "precomputed")]
    for key, (got, lengths) in items.items():
        assert lengths == ref_lengths, key
        for (u1, f1, t1, x1), (u2, f2, t2, x2) in zip(ref_items, got, strict=True):
            assert u1 == u2 and torch.equal(t1, t2) and x1 == x2
            assert torch.allclose(f1, f2, atol=1e-6), key


def test_duration_bounds_train_only_and_logged(dirs, caplog):
    root, exp, tok = dirs
    lengths = build_datasets(exp_config(), exp / "cmvn.ark", root / "pre", root / "pre", tok, CFG,
                             lambda t: t // 4)[0].plan.lengths
    cfg = exp_config(min_duration=0.6, max_duration=1.0)
    with caplog.at_level(logging.WARNING):
        train, dev = build_datasets(cfg, exp / "cmvn.ark", root / "pre", root / "pre", tok, CFG,
                                    lambda t: t // 4)
    short = sum(n < 60 for n in lengths)
    long = sum(n > 100 for n in lengths)
    assert short + long > 0 and len(train.plan.lengths) == 6 - short - long
    assert all(60 <= n <= 100 for n in train.plan.lengths) and len(dev.plan.lengths) == 6
    assert f"{short} shorter than 60 frames, {long} longer than 100 frames" in caplog.text


def test_speed_perturbation_on_the_fly_train_only(dirs):
    root, exp, tok = dirs
    cfg = exp_config(features="on_the_fly", speed_perturb=[0.9, 1.1])
    train, dev = build_datasets(cfg, exp / "cmvn.ark", root / "fly", root / "fly", tok, CFG,
                                lambda t: t // 4)
    train_lens = set()
    for epoch in range(6):
        train.dataset.set_epoch(epoch)
        train_lens.add(train.dataset[0][1].shape[0])
    assert train.plan.lengths[0] not in train_lens and len(train_lens) == 2
    assert dev.dataset[0][1].shape[0] == dev.plan.lengths[0]
    with pytest.raises(ConfigError, match="speed_perturb on the fly needs features"):
        exp_config(speed_perturb=[0.9, 1.1])
    with pytest.raises(ConfigError, match="'speaker' needs Kaldi data dirs"):
        build_datasets(exp_config(source="lhotse", cmvn="speaker"), exp / "cmvn.ark",
                       root / "cuts_pre", root / "cuts_pre", tok, CFG, lambda t: t // 4)


def test_training_from_cuts_on_the_fly_equals_kaldi_precomputed(tmp_path):
    """Same seed, same numbers: a CutSet with on-the-fly fbank trains the same model."""
    from asr.config import load_config
    from asr.train.checkpoint import load_checkpoint
    from asr.train.runner import run

    make_train_corpus(tmp_path, 6, 6, CFG)
    for name in ("train", "dev"):
        import_data_dir(tmp_path / name, tmp_path / f"cuts_{name}")
    small = ["model.frontend.type=conv2d", "model.frontend.channels=4",
             "model.encoder.num_layers=1",
             "model.encoder.hidden_size=16", "data.max_frames=400", "train.num_threads=1",
             "train.epochs=1"]
    for exp, source, extra in (("kaldi", "", []),
                               ("cuts", "cuts_", ["data.source=lhotse",
                                                  "data.features=on_the_fly"])):
        cfg = load_config(ExperimentConfig, None, small + extra)
        run(cfg, tmp_path / exp, tmp_path / f"{source}train", tmp_path / f"{source}dev",
            tmp_path / "lang")
    a = load_checkpoint(tmp_path / "kaldi" / "final.pt")["model"]
    b = load_checkpoint(tmp_path / "cuts" / "final.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # training flushes denormals to zero (their slow path made a plateaued LSTM 6x slower)
    if platform.machine() in ("x86_64", "AMD64"):  # the CPUs where torch can flush them
        assert torch.tensor(1e-39) * torch.tensor(1.0) == 0
