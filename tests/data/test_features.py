"""Fbank features of data dirs: agreement with torchaudio's Kaldi fbank, parallel and
resumable jobs, on the fly. CMVN: tests/data/test_cmvn.py; speed perturbation:
tests/data/test_perturb.py."""

import kaldiio
import numpy as np
import pytest
import torch
import torchaudio.compliance.kaldi as kaldi

from asr.config.schema import FbankConfig
from asr.data.ark import read_matrix
from asr.data.audio import load_audio
from asr.data.features import (
    compute_fbank,
    log_noise_floor,
    read_feats_config,
    write_data_dir_feats,
)
from asr.data.kaldi_dir import DataDir
from asr.errors import DataError
from asr.testing import make_data_dir, synth_utterance

CFG = FbankConfig(sample_rate=8000, num_mel_bins=23, noise_floor=0.0)  # Kaldi-exact


def test_data_dir_features_match_torchaudio_kaldi(tmp_path):
    make_data_dir(tmp_path / "d", num_utts=3)
    assert write_data_dir_feats(tmp_path / "d", CFG) == 3
    d = DataDir.load(tmp_path / "d")
    assert read_feats_config(tmp_path / "d") == CFG
    for utt, rx in d.feats_scp.items():
        mat = kaldiio.load_mat(rx)
        samples, rate = load_audio(d.wav_scp[utt])
        ref = kaldi.fbank(samples[None], sample_frequency=8000, num_mel_bins=23, dither=0.0,
                          energy_floor=0.0)
        assert mat.shape == tuple(ref.shape) and d.utt2num_frames[utt] == mat.shape[0]
        np.testing.assert_array_equal(mat, ref.numpy())
    assert not list((tmp_path / "d" / "data").glob("*.partial"))


def test_sample_rate_mismatch_is_rejected_or_resampled(tmp_path):
    make_data_dir(tmp_path / "d", num_utts=1, rate=16000)
    with pytest.raises(DataError, match="is 16000 Hz but the features are configured for 8000"):
        write_data_dir_feats(tmp_path / "d", CFG)
    assert not (tmp_path / "d" / "feats.scp").exists()
    write_data_dir_feats(tmp_path / "d", CFG, allow_resample=True)
    assert (tmp_path / "d" / "feats.scp").exists()


def test_unreadable_audio_names_the_utterance(tmp_path):
    (tmp_path / "wav.scp").write_text(f"u1 {tmp_path}/missing.wav\n")
    with pytest.raises(DataError, match="utterance 'u1': cannot read audio"):
        write_data_dir_feats(tmp_path, CFG)


def test_too_short_audio(tmp_path):
    with pytest.raises(DataError, match="shorter than one"):
        compute_fbank(torch.zeros(50), 8000, CFG, "u")


def test_parallel_jobs_resume_after_failure_and_compress(tmp_path):
    """--nj 2 equals one job; a failed (or killed) split is redone, a finished one kept."""
    import soundfile

    make_data_dir(tmp_path / "one", num_utts=6)
    write_data_dir_feats(tmp_path / "one", CFG)
    make_data_dir(tmp_path / "d", num_utts=6)
    d = DataDir.load(tmp_path / "d")
    victim = d.utt_ids[1]  # split 2 holds utterances 1, 3, 5
    good_wav = (tmp_path / "d" / "wav" / f"{victim}.wav").read_bytes()
    (tmp_path / "d" / "wav" / f"{victim}.wav").write_bytes(b"RIFF garbage")
    with pytest.raises(DataError, match=f"utterance '{victim}': cannot read audio"):
        write_data_dir_feats(tmp_path / "d", CFG, nj=2)
    data = tmp_path / "d" / "data"
    assert not (tmp_path / "d" / "feats.scp").exists()
    assert (data / "feats_d.1.scp").is_file() and not (data / "feats_d.2.scp").exists()
    kept = (data / "feats_d.1.ark").stat().st_mtime_ns
    (tmp_path / "d" / "wav" / f"{victim}.wav").write_bytes(good_wav)
    assert write_data_dir_feats(tmp_path / "d", CFG, nj=2) == 6
    assert (data / "feats_d.1.ark").stat().st_mtime_ns == kept  # finished split not redone
    ref, got = DataDir.load(tmp_path / "one"), DataDir.load(tmp_path / "d")
    assert got.utt2num_frames == ref.utt2num_frames and got.utt2dur == ref.utt2dur
    for utt in ref.utt_ids:
        np.testing.assert_array_equal(kaldiio.load_mat(got.feats_scp[utt]),
                                      kaldiio.load_mat(ref.feats_scp[utt]))
    assert soundfile.info(got.wav_scp[victim]).frames / 8000 == got.utt2dur[victim]

    write_data_dir_feats(tmp_path / "d", CFG, compress=2, force=True)
    comp = DataDir.load(tmp_path / "d")
    for utt in ref.utt_ids:
        a, b = read_matrix(utt, comp.feats_scp[utt]), read_matrix(utt, ref.feats_scp[utt])
        assert a.shape == b.shape and np.abs(a - b).max() < 0.02 * (b.max() - b.min())
    assert (data / "feats_d.1.ark").stat().st_size < 0.4 * sum(
        f.stat().st_size for f in (tmp_path / "one" / "data").glob("*.ark"))


def test_segments_pipes_and_ark_audio(tmp_path):
    """wav.scp as a path, a 'cmd |' pipe or an extended filename, cut by segments (-1 end)."""
    make_data_dir(tmp_path / "src", num_utts=1)
    src = DataDir.load(tmp_path / "src")
    path = src.wav_scp[src.utt_ids[0]]
    samples, rate = load_audio(path)
    with open(tmp_path / "audio.ark", "wb") as f:
        kaldiio.save_ark(f, {"rec_ark": (rate, samples.numpy().astype(np.int16))})
    d = tmp_path / "d"
    d.mkdir()
    (d / "wav.scp").write_text(f"rec_ark {tmp_path / 'audio.ark'}:8\nrec_file {path}\n"
                               f"rec_pipe cat {path} |\n")
    (d / "segments").write_text("a rec_ark 0.1 0.6\nb rec_file 0.1 0.6\nc rec_pipe 0.1 0.6\n"
                                "d rec_file 0.5 -1\n")
    assert write_data_dir_feats(d, CFG) == 4
    dd = DataDir.load(d)
    ref = compute_fbank(samples[800:4800], 8000, CFG).numpy()
    for utt in "abc":
        np.testing.assert_array_equal(kaldiio.load_mat(dd.feats_scp[utt]), ref)
    tail = compute_fbank(samples[4000:], 8000, CFG).numpy()
    np.testing.assert_array_equal(kaldiio.load_mat(dd.feats_scp["d"]), tail)
    assert dd.utt2dur == {"a": 0.5, "b": 0.5, "c": 0.5, "d": samples.numel() / 8000 - 0.5}


def test_on_the_fly_equals_precomputed(tmp_path):
    from asr.data.dataset import FeatsDataset, OnTheFlyFbank, load_utterances
    from asr.data.tokenizer import load_tokenizer, train_tokenizer

    text = make_data_dir(tmp_path / "d", num_utts=4)
    train_tokenizer(list(text.values()), tmp_path / "lang", "char")
    tok = load_tokenizer(tmp_path / "lang")
    make_data_dir(tmp_path / "fly", num_utts=4)
    write_data_dir_feats(tmp_path / "fly", CFG, write_feats=False)
    assert not (tmp_path / "fly" / "feats.scp").exists()
    write_data_dir_feats(tmp_path / "d", CFG)
    pre = FeatsDataset(load_utterances(tmp_path / "d", tok), lambda x, u: x)
    fly_utts = load_utterances(tmp_path / "fly", tok, from_audio=True)
    fly = FeatsDataset(fly_utts, lambda x, u: x, source=OnTheFlyFbank(CFG))
    assert [u.num_frames for u in fly_utts] == [u.num_frames for u in pre.utts]
    for i in range(len(pre)):
        assert pre[i][0] == fly[i][0]
        assert torch.equal(pre[i][1], fly[i][1]) and fly[i][1].shape[0] == fly_utts[i].num_frames
        assert torch.equal(pre[i][2], fly[i][2])
    sp = OnTheFlyFbank(CFG, speeds=(0.9, 1.1), seed=1)
    lens = {sp(fly_utts[0], epoch).shape[0] for epoch in range(8)}
    assert len(lens) == 2 and min(lens) >= sp.min_frames(fly_utts[0].num_frames)
    assert sp(fly_utts[0], 3).shape == sp(fly_utts[0], 3).shape  # seeded per (epoch, utt)


@pytest.mark.parametrize("options", [
    {}, {"snip_edges": False}, {"preemphasis": 0.0}, {"dither": 1.0},
    {"sample_rate": 16000, "num_mel_bins": 80, "low_freq": 40.0, "high_freq": -400.0},
    {"frame_length_ms": 20.0, "frame_shift_ms": 8.0, "snip_edges": False},
])
def test_our_cached_fbank_is_bit_identical_to_torchaudio_kaldi(options):
    """asr.data.kaldi_fbank caches the filterbank and window itself, changing no number
    and leaving torchaudio unpatched."""
    cfg = FbankConfig(**{"sample_rate": 8000, "num_mel_bins": 23, "noise_floor": 0.0,
                         **options})
    for n in (cfg.sample_rate // 4, 12345):
        samples = torch.from_numpy(synth_utterance([3, 1, 4], rate=cfg.sample_rate)[:n]
                                   .astype(np.float32))
        torch.manual_seed(0)  # dither draws from the global RNG in both
        ours = compute_fbank(samples, cfg.sample_rate, cfg)
        torch.manual_seed(0)
        ref = kaldi.fbank(samples[None], sample_frequency=cfg.sample_rate,
                          num_mel_bins=cfg.num_mel_bins, frame_length=cfg.frame_length_ms,
                          frame_shift=cfg.frame_shift_ms, dither=cfg.dither,
                          preemphasis_coefficient=cfg.preemphasis, low_freq=cfg.low_freq,
                          high_freq=cfg.high_freq, energy_floor=cfg.energy_floor,
                          snip_edges=cfg.snip_edges)
        assert torch.equal(ours, ref), (options, n)
    assert not hasattr(kaldi.get_mel_banks, "cache_info")


def test_noise_floor_is_the_expected_energy_of_kaldi_dither():
    """noise_floor adds what dither adds on average (measured over 20 s of dithered zeros),
    deterministically: digital silence lands on the floor, not on log(FLT_EPSILON)."""
    cfg = FbankConfig(sample_rate=8000, num_mel_bins=23, noise_floor=2.0,
                      silence_frames=-1)
    zeros = torch.zeros(8000 * 20)
    floored = compute_fbank(zeros, 8000, cfg)
    np.testing.assert_allclose(floored.numpy(), np.broadcast_to(log_noise_floor(cfg),
                                                                floored.shape), atol=1e-5)
    torch.manual_seed(0)
    dithered = compute_fbank(zeros, 8000, FbankConfig(sample_rate=8000, num_mel_bins=23,
                                                      noise_floor=0.0, dither=2.0))
    ratio = dithered.exp().mean(dim=0) / floored[0].exp()
    assert torch.all((ratio - 1).abs() < 0.05), ratio
    exact = compute_fbank(zeros, 8000, CFG)
    # what the floor replaces: log(FLT_EPSILON) = -15.94 in every bin
    assert torch.equal(exact, torch.full_like(exact, torch.finfo(torch.float32).eps).log())


def test_noise_floor_adds_to_the_kaldi_energies_and_is_deterministic():
    samples = torch.from_numpy(synth_utterance([3, 1, 4], rate=8000).astype(np.float32))
    cfg = FbankConfig(sample_rate=8000, num_mel_bins=23)
    assert cfg.noise_floor == 0.1  # on by default
    ours = compute_fbank(samples, 8000, cfg)
    assert torch.equal(ours, compute_fbank(samples, 8000, cfg))
    exact = compute_fbank(samples, 8000, CFG)
    expected = torch.log(exact.exp() + torch.from_numpy(np.exp(log_noise_floor(cfg))).float())
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-4)
    assert torch.all(ours >= exact - 1e-6)


def test_feats_yaml_without_noise_floor_means_kaldi_exact(tmp_path):
    """A feats.yaml written before noise_floor existed describes Kaldi-exact features: an
    exp dir trained then decodes exactly as it did."""
    (tmp_path / "feats.yaml").write_text("sample_rate: 8000\nnum_mel_bins: 23\n")
    assert read_feats_config(tmp_path).noise_floor == 0.0
    assert read_feats_config(tmp_path).silence_frames == -1
    (tmp_path / "feats.yaml").write_text("sample_rate: 8000\nnoise_floor: 1.5\n")
    assert read_feats_config(tmp_path).noise_floor == 1.5


@pytest.mark.slow
def test_fbank_killed_with_sigkill_resumes_to_the_same_features(tmp_path):
    """kill -9 of `asr fbank --nj 2` (parent and workers) mid-stage, then a re-run: the
    features equal a single uninterrupted job's, and no half-written ark is ever used."""
    import os
    import signal
    import subprocess
    import sys
    import time

    make_data_dir(tmp_path / "ref", num_utts=120, seed=3)
    write_data_dir_feats(tmp_path / "ref", FbankConfig(sample_rate=8000, num_mel_bins=23))
    make_data_dir(tmp_path / "d", num_utts=120, seed=3)
    (tmp_path / "fbank.yaml").write_text("sample_rate: 8000\nnum_mel_bins: 23\n")
    cmd = [sys.executable, "-m", "asr", "fbank", "--nj", "2", "--config",
           str(tmp_path / "fbank.yaml"), str(tmp_path / "d")]
    p = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    data = tmp_path / "d" / "data"
    end = time.time() + 120
    while not (data.is_dir() and any("ark" in f.name for f in data.iterdir())) \
            and time.time() < end:
        time.sleep(0.002)  # until a split is writing its ark
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert not (tmp_path / "d" / "feats.scp").exists()  # written last, never half-done
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    ref, got = DataDir.load(tmp_path / "ref"), DataDir.load(tmp_path / "d")
    assert got.utt_ids == ref.utt_ids
    for utt in ref.utt_ids:
        np.testing.assert_array_equal(read_matrix(utt, got.feats_scp[utt]),
                                      read_matrix(utt, ref.feats_scp[utt]))
