"""data.augment on the fly (OnTheFlyFbank, the config, the pipeline) and the offline stage
'asr augment-data'. The augmentations as functions: tests/data/test_wave_augment.py; a resume
with augmentation on: tests/train/test_resilience.py."""

import dataclasses

import numpy as np
import pytest
import soundfile
import torch
from torch.utils.data import DataLoader

from asr.config import config_from_dict, load_config
from asr.config.augment_schema import (
    AugmentConfig,
    NoiseConfig,
    ReverbConfig,
    TempoConfig,
    VolumeConfig,
    VtlpConfig,
)
from asr.config.schema import ExperimentConfig, FbankConfig
from asr.data.audio import load_audio
from asr.data.augment_dir import augment_data_dir
from asr.data.collate import collate
from asr.data.dataset import FeatsDataset, OnTheFlyFbank, load_utterances
from asr.data.features import compute_fbank, write_data_dir_feats
from asr.data.kaldi_dir import DataDir
from asr.data.rir_sim import write_rirs
from asr.data.sampler import BucketBatchSampler
from asr.data.tokenizer import load_tokenizer, train_tokenizer
from asr.data.torchaudio_lib import kaldi
from asr.errors import ConfigError, DataError
from asr.testing import make_data_dir

CFG = FbankConfig(sample_rate=8000, num_mel_bins=23, noise_floor=0.0)  # Kaldi-exact


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Utterances with audio, a folder of noise (one file shorter than any utterance) and
    simulated RIRs, all at 8 kHz."""
    root = tmp_path_factory.mktemp("aug")
    text = make_data_dir(root / "d", num_utts=6)
    write_data_dir_feats(root / "d", CFG, write_feats=False)
    train_tokenizer(list(text.values()), root / "lang", "char")
    rng = np.random.default_rng(0)
    for name, seconds in (("hum/a.wav", 3.0), ("street/b.wav", 0.2)):
        (root / "noise" / name).parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(root / "noise" / name, rng.normal(0, 800, int(seconds * 8000))
                        .astype(np.int16), 8000, subtype="PCM_16")
    write_rirs(root / "rirs", 4, 8000, seed=0)
    utts = load_utterances(root / "d", load_tokenizer(root / "lang"), from_audio=True)
    return root, utts


def every(root, prob: float = 1.0) -> AugmentConfig:
    return AugmentConfig(TempoConfig(prob), ReverbConfig(prob, str(root / "rirs")),
                         NoiseConfig(prob, str(root / "noise")), VolumeConfig(prob),
                         VtlpConfig(prob))


def one(root, kind: str) -> AugmentConfig:
    return dataclasses.replace(AugmentConfig(), **{kind: getattr(every(root), kind)})


def test_off_by_default_computes_what_plain_fbank_does(world):
    root, utts = world
    plain, off = OnTheFlyFbank(CFG), OnTheFlyFbank(CFG, augment=AugmentConfig())
    assert off.augment is None and not ExperimentConfig().data.augment.active
    for u in utts:
        assert np.array_equal(plain(u, 2), off(u, 2))
    assert off.min_frames(100) == 100


@pytest.mark.parametrize("kind", ["tempo", "reverb", "noise", "volume", "vtlp"])
def test_each_augmentation_is_seeded_per_seed_epoch_and_utterance(world, kind):
    root, utts = world
    u = utts[0]
    a, b = (OnTheFlyFbank(CFG, seed=7, augment=one(root, kind)) for _ in range(2))
    plain = OnTheFlyFbank(CFG)(u)
    first = a(u, 1)
    assert np.array_equal(first, b(u, 1))  # a fresh process (a resume) draws the same
    assert not np.array_equal(first, a(u, 2))  # another epoch draws again
    assert not np.array_equal(first, OnTheFlyFbank(CFG, seed=8, augment=one(root, kind))(u, 1))
    if kind == "tempo":
        assert first.shape[0] != plain.shape[0]
    else:  # the rest keep every frame where it was
        assert first.shape == plain.shape and not np.array_equal(first, plain)


def test_start_epoch_keeps_the_epochs_before_it_clean(world):
    root, utts = world
    late = OnTheFlyFbank(CFG, seed=7, augment=dataclasses.replace(every(root), start_epoch=3))
    now = OnTheFlyFbank(CFG, seed=7, augment=every(root))
    u = utts[0]
    for epoch in (1, 2):
        assert np.array_equal(late(u, epoch), OnTheFlyFbank(CFG)(u, epoch))
    assert np.array_equal(late(u, 3), now(u, 3))  # the same draws as if it had started at 1


def test_augmented_batches_are_identical_for_any_worker_count(world):
    root, utts = world
    sampler = BucketBatchSampler([u.num_frames for u in utts], 300, seed=1)

    def batches(workers: int) -> list:
        ds = FeatsDataset(utts, lambda x, u: x, seed=3,
                          source=OnTheFlyFbank(CFG, seed=3, augment=every(root, 0.7)))
        ds.set_epoch(2)
        return [(b.utt_ids, b.feats) for b in DataLoader(ds, batch_sampler=sampler,
                                                         collate_fn=collate,
                                                         num_workers=workers)]

    runs = [batches(w) for w in (0, 2)]
    for (ids0, f0), (ids2, f2) in zip(*runs, strict=True):
        assert ids0 == ids2 and torch.equal(f0, f2)


def test_vtlp_warp_1_is_plain_fbank_and_a_warp_is_kaldis_vtln(world):
    root, utts = world
    x, rate = load_audio(utts[0].audio[0])
    plain = compute_fbank(x, rate, CFG)
    assert torch.equal(compute_fbank(x, rate, CFG, vtln_warp=1.0), plain)
    warped = compute_fbank(x, rate, CFG, vtln_warp=0.93)
    ref = kaldi.fbank(x[None], sample_frequency=8000, num_mel_bins=23, dither=0.0,
                      energy_floor=0.0, vtln_warp=0.93)
    assert torch.equal(warped, ref) and not torch.equal(warped, plain)
    with pytest.raises(ConfigError, match="data.augment.vtlp needs the fbank's low_freq"):
        OnTheFlyFbank(dataclasses.replace(CFG, low_freq=150.0), augment=one(root, "vtlp"))


def test_bad_config_names_the_key(tmp_path):
    def load(*overrides: str) -> ExperimentConfig:
        return load_config(ExperimentConfig, None, list(overrides))

    with pytest.raises(ConfigError, match=r"data.augment.noise: snr_db: \[20, 0\] is upside"):
        load("data.augment.noise.snr_db=[20, 0]")
    with pytest.raises(ConfigError, match="data.augment.reverb: source: required"):
        load("data.features=on_the_fly", "data.augment.reverb.prob=0.5")
    with pytest.raises(ConfigError, match="data.augment.volume: prob: expected a probability"):
        load("data.augment.volume.prob=2")
    with pytest.raises(ConfigError, match=r"data.augment.tempo: factor: \[0, 1.1\] must be > 0"):
        load("data.augment.tempo.factor=[0, 1.1]")
    for kind in ("volume", "vtlp"):
        with pytest.raises(ConfigError, match="data: augment needs features: on_the_fly"):
            load(f"data.augment.{kind}.prob=0.5")
    with pytest.raises(ConfigError, match="data.augment: start_epoch: expected >= 1, got 0"):
        load("data.augment.start_epoch=0")
    with pytest.raises(ConfigError, match="and source: kaldi"):
        load("data.features=on_the_fly", "data.source=lhotse", "data.augment.volume.prob=1")
    cfg = load("data.features=on_the_fly", "data.augment.volume.prob=0.5")
    assert cfg.data.augment.active and cfg.data.augment.volume.gain_db == (-6.0, 6.0)


def test_train_split_only_and_tempo_counts_in_the_ctc_filter(world, tmp_path):
    from asr.data import cmvn, cmvn_stats
    from asr.data.pipeline import build_datasets

    root, utts = world
    cmvn_stats.save_stats(tmp_path / "cmvn.ark", cmvn_stats.data_dir_stats(root / "d"))
    cfg = config_from_dict(ExperimentConfig, {
        "data": {"features": "on_the_fly", "augment": {
            "noise": {"prob": 1.0, "source": str(root / "noise")}, "tempo": {"prob": 1.0}}},
        "specaug": {"enabled": False}})
    tok = load_tokenizer(root / "lang")
    train, dev = build_datasets(cfg, tmp_path / "cmvn.ark", root / "d", root / "d", tok, CFG,
                                lambda t: t // 4)
    assert dev.dataset.items.source.augment is None
    assert train.dataset.items.source.augment is not None
    fly = OnTheFlyFbank(CFG)
    plain = cmvn.GlobalCmvn(cmvn_stats.load_stats(tmp_path / "cmvn.ark"))
    assert torch.equal(dev.dataset[0][1], plain(torch.from_numpy(fly(dev.dataset.utts[0])),
                                                dev.dataset.utts[0].utt_id))
    assert train.dataset.items.source.min_frames(100) < 100  # tempo 1.1 leaves ~91 frames
    with pytest.raises(DataError, match="noise source not found"):
        build_datasets(dataclasses.replace(cfg, data=dataclasses.replace(
            cfg.data, augment=dataclasses.replace(cfg.data.augment, noise=NoiseConfig(
                1.0, str(tmp_path / "none"))))), tmp_path / "cmvn.ark", root / "d",
            root / "d", tok, CFG, lambda t: t // 4)


def test_offline_copy_prefixes_ids_and_is_seeded(world, tmp_path):
    root, _ = world
    cfg = dataclasses.replace(every(root), tempo=TempoConfig(), vtlp=VtlpConfig(),
                              volume=VolumeConfig())
    assert augment_data_dir(root / "d", tmp_path / "a", cfg, "rev1-noise1-", seed=1) == 6
    src, out = DataDir.load(root / "d"), DataDir.load(tmp_path / "a")
    assert out.utt_ids == ["rev1-noise1-" + u for u in src.utt_ids]
    for u in src.utt_ids:
        new = "rev1-noise1-" + u
        assert out.text[new] == src.text[u]
        assert out.utt2spk[new] == "rev1-noise1-" + src.utt2spk[u]
        before, after = load_audio(src.wav_scp[u])[0], load_audio(out.wav_scp[new])[0]
        assert before.shape == after.shape and not torch.equal(before, after)
    augment_data_dir(root / "d", tmp_path / "b", cfg, "rev1-noise1-", seed=1)
    augment_data_dir(root / "d", tmp_path / "c", cfg, "rev1-noise1-", seed=2)
    wav = "wav/rev1-noise1-spk0-utt000.wav"
    assert (tmp_path / "a" / wav).read_bytes() == (tmp_path / "b" / wav).read_bytes()
    assert (tmp_path / "a" / wav).read_bytes() != (tmp_path / "c" / wav).read_bytes()
    with pytest.raises(DataError, match="the prefix must not be empty"):
        augment_data_dir(root / "d", tmp_path / "e", cfg, "")
    with pytest.raises(DataError, match="VTLP warps the filterbank"):
        augment_data_dir(root / "d", tmp_path / "e", one(root, "vtlp"), "v-")
