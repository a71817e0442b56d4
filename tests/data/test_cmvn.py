"""CMVN: Kaldi's stats layout, global, per-speaker (cmvn.scp) and per-utterance
normalization, and make_normalizer, which picks one from data.cmvn."""

import re

import kaldiio
import numpy as np
import pytest
import torch

from asr.config.schema import DataConfig, FbankConfig
from asr.data import cmvn, cmvn_stats
from asr.data.cmvn import make_normalizer
from asr.data.features import write_data_dir_feats
from asr.data.kaldi_dir import DataDir
from asr.errors import AsrError, DataError
from asr.testing import make_data_dir

CFG = FbankConfig(sample_rate=8000, num_mel_bins=23)


@pytest.fixture
def feats_dir(tmp_path):
    """A data dir of 4 utterances by 2 speakers with fbank features, and its features."""
    make_data_dir(tmp_path / "d", num_utts=4)
    write_data_dir_feats(tmp_path / "d", CFG)
    d = DataDir.load(tmp_path / "d")
    return tmp_path / "d", {u: kaldiio.load_mat(rx) for u, rx in d.feats_scp.items()}


def test_cmvn_stats_kaldi_layout_and_normalization(tmp_path):
    rng = np.random.default_rng(0)
    mats = [rng.normal(3.0, 2.0, (n, 4)) for n in (50, 70)]
    stats = cmvn_stats.accumulate(mats)
    allf = np.concatenate(mats)
    assert stats.shape == (2, 5) and stats[0, -1] == 120 and stats[1, -1] == 0
    np.testing.assert_allclose(stats[0, :4], allf.sum(0))
    np.testing.assert_allclose(stats[1, :4], (allf ** 2).sum(0))
    cmvn_stats.save_stats(tmp_path / "cmvn.ark", stats)
    norm = cmvn.GlobalCmvn(cmvn_stats.load_stats(tmp_path / "cmvn.ark"))
    out = norm(torch.tensor(allf, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(0), 1, atol=1e-3)
    u = cmvn.UtteranceCmvn()(torch.tensor(mats[0], dtype=torch.float32)).numpy()
    np.testing.assert_allclose(u.mean(0), 0, atol=1e-5)


def test_bad_cmvn_stats(tmp_path):
    kaldiio.save_mat(str(tmp_path / "bad.ark"), np.zeros((3, 4)))
    with pytest.raises(DataError, match="2 x \\(D\\+1\\)"):
        cmvn_stats.load_stats(tmp_path / "bad.ark")


def test_per_speaker_cmvn_kaldi_scp(tmp_path):
    make_data_dir(tmp_path / "d", num_utts=4)
    write_data_dir_feats(tmp_path / "d", CFG)
    assert cmvn_stats.write_speaker_stats(tmp_path / "d") == 2
    stats = cmvn_stats.load_speaker_stats(tmp_path / "d")
    d = DataDir.load(tmp_path / "d")
    norm = cmvn.SpeakerCmvn(d.utt2spk, stats)
    spk0 = [u for u, s in d.utt2spk.items() if s == "spk0"]
    out = np.concatenate([norm(torch.tensor(kaldiio.load_mat(d.feats_scp[u])), u).numpy()
                          for u in spk0])
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-3)
    np.testing.assert_allclose(out.std(0), 1, atol=1e-2)
    with pytest.raises(DataError, match="utterance 'stranger': no CMVN stats"):
        norm(torch.zeros(3, 23), "stranger")


def test_make_normalizer_global_uses_the_stats_file(feats_dir, tmp_path):
    d, feats = feats_dir
    stats = cmvn_stats.accumulate(feats.values())
    cmvn_stats.save_stats(tmp_path / "cmvn.ark", stats)
    utt, x = next(iter(feats.items()))
    x = torch.tensor(x)
    for norm_vars in (True, False):
        norm = make_normalizer(DataConfig(cmvn="global", norm_vars=norm_vars),
                               tmp_path / "cmvn.ark")
        assert isinstance(norm, cmvn.GlobalCmvn)
        torch.testing.assert_close(norm(x, utt), cmvn.GlobalCmvn(stats, norm_vars)(x))
    mean = stats[0, :-1] / stats[0, -1]
    torch.testing.assert_close(norm(x, utt), x - torch.tensor(mean, dtype=torch.float32))


@pytest.mark.parametrize("where", [None, "missing.ark"])
def test_make_normalizer_global_without_stats_is_a_clear_error(tmp_path, where):
    path = tmp_path / where if where else None
    with pytest.raises(AsrError, match=re.escape(
            f"data.cmvn is 'global' but the CMVN stats {path} are missing (run 'asr cmvn' "
            "on the training data dir)")):
        make_normalizer(DataConfig(cmvn="global"), path)


def per_speaker_reference(d, feats):
    """Each utterance normalized with its own speaker's stats, computed here."""
    utt2spk = DataDir.load(d).utt2spk
    out = {}
    for utt, x in feats.items():
        mats = [m for u, m in feats.items() if utt2spk[u] == utt2spk[utt]]
        out[utt] = cmvn.GlobalCmvn(cmvn_stats.accumulate(mats))(torch.tensor(x))
    return out


def test_make_normalizer_speaker_reads_cmvn_scp(feats_dir):
    d, feats = feats_dir
    cmvn_stats.write_speaker_stats(d)
    norm = make_normalizer(DataConfig(cmvn="speaker"), None, d)
    assert isinstance(norm, cmvn.SpeakerCmvn) and len(norm.by_speaker) == 2
    for utt, ref in per_speaker_reference(d, feats).items():
        torch.testing.assert_close(norm(torch.tensor(feats[utt]), utt), ref)


def test_make_normalizer_speaker_accumulates_stats_from_feats_without_cmvn_scp(feats_dir):
    d, feats = feats_dir
    assert (d / "utt2spk").is_file() and not (d / "cmvn.scp").exists()
    with pytest.raises(AsrError, match=re.escape(
            f"{d}/cmvn.scp is missing (run 'asr cmvn --per-speaker {d}')")):
        make_normalizer(DataConfig(cmvn="speaker"), None, d)
    norm = make_normalizer(DataConfig(cmvn="speaker"), None, d, feats.items())
    assert isinstance(norm, cmvn.SpeakerCmvn) and len(norm.by_speaker) == 2
    for utt, ref in per_speaker_reference(d, feats).items():
        torch.testing.assert_close(norm(torch.tensor(feats[utt]), utt), ref)
    # without a data dir there are no speakers: each utterance is its own (Kaldi's rule)
    alone = make_normalizer(DataConfig(cmvn="speaker"), None, None, feats.items())
    assert len(alone.by_speaker) == len(feats)
    utt, x = next(iter(feats.items()))
    torch.testing.assert_close(alone(torch.tensor(x), utt),
                               cmvn.UtteranceCmvn()(torch.tensor(x)), atol=1e-4, rtol=1e-4)
    with pytest.raises(AsrError, match="no data dir gives the speakers"):
        make_normalizer(DataConfig(cmvn="speaker"), None)


def test_make_normalizer_utterance_and_none(feats_dir):
    _, feats = feats_dir
    utt, x = next(iter(feats.items()))
    x = torch.tensor(x)
    norm = make_normalizer(DataConfig(cmvn="utterance"), None)
    assert isinstance(norm, cmvn.UtteranceCmvn)
    out = norm(x, utt)
    torch.testing.assert_close(out.mean(0), torch.zeros(x.shape[1]), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.std(0, unbiased=False), torch.ones(x.shape[1]),
                               atol=1e-3, rtol=0)
    mean_only = make_normalizer(DataConfig(cmvn="utterance", norm_vars=False), None)
    torch.testing.assert_close(mean_only(x, utt), x - x.mean(0))
    same = make_normalizer(DataConfig(cmvn="none"), None)(x, utt)
    assert torch.equal(same, x)


def naive_online(x: np.ndarray, prior: np.ndarray, window: int, prior_frames: int,
                 norm_vars: bool) -> np.ndarray:
    """Online CMVN frame by frame, as its definition says: the last ``window`` frames up
    to t, topped up to ``prior_frames`` with the prior's E[x] and E[x^2]."""
    out = np.empty_like(x)
    for t in range(x.shape[0]):
        past = x[max(0, t + 1 - window):t + 1]
        extra = max(0, prior_frames - past.shape[0])
        n = past.shape[0] + extra
        mean = (past.sum(0) + extra * prior[0]) / n
        square = ((past ** 2).sum(0) + extra * prior[1]) / n
        out[t] = x[t] - mean
        if norm_vars:
            out[t] /= np.sqrt(np.maximum(square - mean ** 2, 1e-10))
    return out


@pytest.mark.parametrize(("window", "prior_frames", "norm_vars"),
                         [(600, 200, True), (7, 3, True), (5, 0, False), (1000, 0, True)])
def test_online_cmvn_is_its_definition_and_any_chunking_gives_the_same_bits(
        window, prior_frames, norm_vars):
    rng = np.random.default_rng(window)
    stats = cmvn_stats.accumulate([rng.normal(2.0, 3.0, (300, 6))])
    x = rng.normal(-1.0, 0.5, (123, 6)).astype(np.float32)  # another speaker and channel
    online = cmvn.OnlineCmvn(stats, window, prior_frames, norm_vars)
    whole = online(torch.from_numpy(x))
    prior = np.stack([stats[0, :-1], stats[1, :-1]]) / stats[0, -1]
    np.testing.assert_allclose(whole.numpy(), naive_online(x.astype(np.float64), prior, window,
                                                           prior_frames, norm_vars),
                               rtol=1e-5, atol=1e-5)
    for seed in range(3):
        stream, pieces, start = online.stream(), [], 0
        cuts = np.random.default_rng(seed).integers(0, 20, 40)
        for c in [*cuts, x.shape[0]]:
            pieces.append(stream(torch.from_numpy(x[start:start + c])))
            start += c
        assert torch.equal(torch.cat(pieces), whole)
        assert stream.prefix.shape[0] <= window + 1  # memory does not grow with the stream
        stream.reset()
        assert torch.equal(stream(torch.from_numpy(x)), whole)


def test_online_cmvn_starts_from_the_global_stats_and_adapts_to_the_utterance():
    stats = cmvn_stats.accumulate([np.random.default_rng(0).normal(0.0, 1.0, (5000, 3))])
    x = torch.full((400, 3), 10.0) + torch.randn(400, 3, generator=torch.Generator().manual_seed(0))
    out = cmvn.OnlineCmvn(stats, window=600, prior_frames=100)(x)
    glob = cmvn.GlobalCmvn(stats)(x)
    assert out[0].mean() > 5  # one frame in, the prior's stats dominate: the offset stays
    assert out[-50:].mean().abs() < 0.2 and out[-50:].std() == pytest.approx(1.0, abs=0.2)
    assert glob[-50:].mean() > 5  # global CMVN leaves the offset of this channel


def test_make_normalizer_online_and_its_config_checks(feats_dir, tmp_path):
    d, feats = feats_dir
    cmvn_stats.save_stats(tmp_path / "cmvn.ark", cmvn_stats.data_dir_stats(d))
    norm = make_normalizer(DataConfig(cmvn="online", cmvn_window=50, cmvn_prior_frames=10),
                           tmp_path / "cmvn.ark")
    assert isinstance(norm, cmvn.OnlineCmvn) and (norm.window, norm.prior_frames) == (50, 10)
    with pytest.raises(AsrError, match="data.cmvn is 'online' but the CMVN stats"):
        make_normalizer(DataConfig(cmvn="online"), tmp_path / "missing.ark")
    with pytest.raises(ValueError, match="cmvn_window must be >= 1"):
        DataConfig(cmvn="online", cmvn_window=0)
