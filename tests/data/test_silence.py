"""Digital silence (exact zeros) around or inside the speech: the fbank's noise floor, CMVN
statistics over speech frames only (speaker, utterance, online, streamed), the silence
augmentation, and the edge cases (all-zero and too-short audio, long files)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from asr.config.augment_schema import AugmentConfig, SilenceConfig
from asr.config.schema import DataConfig, FbankConfig
from asr.data import cmvn, cmvn_stats
from asr.data.augment import utterance_generator
from asr.data.features import compute_fbank, log_noise_floor
from asr.data.wave_augment import WaveAugment, pad_with_silence
from asr.testing import synth_utterance

CFG = FbankConfig(sample_rate=8000, num_mel_bins=23)  # noise_floor 1.0, the default
KALDI = FbankConfig(sample_rate=8000, num_mel_bins=23, noise_floor=0.0,
                    silence_frames=-1)
# keeps frames of digital silence (at the floor), to test what CMVN does with them
KEEP = FbankConfig(sample_rate=8000, num_mel_bins=23, silence_frames=-1)


def speech(seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(synth_utterance([3, 1, 4], rate=8000, seed=seed)
                            .astype(np.float32))


def padded(x: torch.Tensor, before: int, after: int, inside: int = 0) -> torch.Tensor:
    """``x`` with exact zeros before, after and (at a frame boundary) in the middle."""
    mid = (x.numel() // 2) // 80 * 80
    parts = [torch.zeros(before), x[:mid], torch.zeros(inside), x[mid:], torch.zeros(after)]
    return torch.cat(parts)


def test_how_much_digital_silence_there_is_beyond_silence_frames_changes_no_bit():
    """Each run of digital silence keeps its first fbank.silence_frames (20) frames: 1 s or
    3 s of zeros around and inside the speech give the very same features."""
    x = speech()
    some = compute_fbank(padded(x, 8000, 8000, inside=8000), 8000, CFG)
    more = compute_fbank(padded(x, 24000, 16000, inside=20000), 8000, CFG)
    assert torch.equal(some, more)
    clean = compute_fbank(x, 8000, CFG)
    # three runs of 20 frames, and 2 frames where each meets the speech (a window over
    # both holds signal)
    assert clean.shape[0] + 60 <= some.shape[0] <= clean.shape[0] + 60 + 8
    none = FbankConfig(sample_rate=8000, num_mel_bins=23, silence_frames=0)
    assert compute_fbank(padded(x, 8000, 8000), 8000, none).shape[0] <= clean.shape[0] + 4
    assert compute_fbank(torch.zeros(8000), 8000, CFG).shape == (20, 23)
    assert compute_fbank(torch.zeros(8000), 8000, none).shape == (0, 23)
    assert compute_fbank(torch.zeros(8000), 8000, KEEP).shape == (98, 23)
    one_lsb = torch.from_numpy(np.random.default_rng(0).integers(-1, 2, 8000).astype(np.float32))
    assert compute_fbank(one_lsb, 8000, CFG).shape == (98, 23)  # quiet is not silent


def test_keep_in_silence_counts_runs_across_pieces():
    from asr.data.kaldi_fbank import keep_in_silence, silent_run_after

    silent = torch.tensor([1, 1, 1, 0, 1, 1, 1, 1, 0, 1], dtype=torch.bool)
    assert keep_in_silence(silent, 2).tolist() == [1, 1, 0, 1, 1, 1, 0, 0, 1, 1]
    assert keep_in_silence(silent, 2, run=1).tolist() == [1, 0, 0, 1, 1, 1, 0, 0, 1, 1]
    assert silent_run_after(silent) == 1 and silent_run_after(silent[:3], 4) == 7


def test_streaming_fbank_drops_the_same_frames_as_offline_in_any_pieces():
    from asr.data.streaming_fbank import StreamingFbank

    audio = padded(speech(), 4000, 3000, inside=5000)
    stream, pieces, start = StreamingFbank(CFG), [], 0
    rng = np.random.default_rng(0)
    while start < audio.numel():
        n = int(rng.integers(1, 2000))
        pieces.append(stream.accept(audio[start:start + n]))
        start += n
    offline = compute_fbank(audio, 8000, CFG)
    assert offline.shape[0] < 200  # of 278 frames, runs of 50, 38 and 63 cut to 20
    # the same frames; float rounding of the FFT batch size only, as without dropping
    torch.testing.assert_close(torch.cat(pieces), offline, atol=1e-4, rtol=0)


def test_speech_mask_finds_digital_silence_and_keeps_the_speech():
    x = speech()
    feats = compute_fbank(padded(x, 4000, 8000), 8000, KEEP).numpy()
    mask = cmvn_stats.speech_mask(feats, log_noise_floor(KEEP))
    # the frames wholly inside the zeros (50 before, 100 after, less the 25 ms windows)
    assert not mask[:48].any() and not mask[-98:].any()
    inner = cmvn_stats.speech_mask(compute_fbank(x, 8000, KEEP).numpy(), log_noise_floor(KEEP))
    assert mask.sum() == pytest.approx(inner.sum(), abs=4)
    assert cmvn_stats.speech_mask(feats, None) is None  # Kaldi-exact features: every frame


@pytest.mark.parametrize("cfg", [KEEP, KALDI], ids=["noise_floor", "kaldi_exact"])
def test_speaker_stats_ignore_the_silence_only_with_a_noise_floor(cfg):
    x = speech()
    clean = [compute_fbank(x, 8000, cfg).numpy()]
    pad = [compute_fbank(padded(x, 8000, 4000, inside=6000), 8000, cfg).numpy()]
    floor = log_noise_floor(cfg)
    a, b = cmvn_stats.accumulate(clean, floor), cmvn_stats.accumulate(pad, floor)
    mean_a, mean_b = a[0, :-1] / a[0, -1], b[0, :-1] / b[0, -1]
    if cfg.noise_floor > 0:  # only the few frames where speech meets the zeros differ
        np.testing.assert_allclose(mean_b, mean_a, atol=0.3)
        assert b[0, -1] - a[0, -1] <= 8
    else:  # log(FLT_EPSILON) frames drag the mean down by units
        assert np.min(mean_b - mean_a) < -3.0


def test_an_all_silent_speaker_gets_finite_stats_and_zero_features():
    zeros = compute_fbank(torch.zeros(8000), 8000, KEEP).numpy()
    stats = cmvn_stats.speaker_stats([("u", zeros)], None, log_noise_floor(KEEP))["u"]
    assert stats[0, -1] == zeros.shape[0]  # no speech frame: all frames count
    out = cmvn.SpeakerCmvn(None, {"u": stats})(torch.from_numpy(zeros), "u")
    assert torch.isfinite(out).all() and out.abs().max() < 0.1  # float32 rounding only


def speech_frames_moved(norm_of, cfg: FbankConfig, before: int) -> float:
    """Mean absolute change of the speech frames' normalized features when ``before`` frames
    of zeros precede the utterance and 0.3 s follow it."""
    x = speech()
    clean = norm_of(compute_fbank(x, 8000, cfg))
    pad = norm_of(compute_fbank(padded(x, 80 * before, 2400), 8000, cfg))
    return float((pad[before:before + clean.shape[0]] - clean).abs().mean())


def test_utterance_cmvn_normalizes_the_speech_about_the_same_with_silence_around_it():
    moved = speech_frames_moved(cmvn.UtteranceCmvn(floor=log_noise_floor(KEEP)), KEEP, 50)
    legacy = speech_frames_moved(cmvn.UtteranceCmvn(), KALDI, 50)
    assert moved < 0.2 and moved < legacy / 5, (moved, legacy)
    legacy = cmvn.UtteranceCmvn()
    kaldi = compute_fbank(speech(), 8000, KALDI)
    expected = (kaldi - kaldi.mean(0)) / kaldi.var(0, unbiased=False).sqrt()
    torch.testing.assert_close(legacy(kaldi), expected, atol=1e-4, rtol=1e-4)


def online(floor):
    rng = np.random.default_rng(0)
    prior = cmvn_stats.accumulate([rng.normal(8.0, 2.0, (500, KEEP.num_mel_bins))])
    return cmvn.OnlineCmvn(prior, window=300, prior_frames=100, floor=floor)


def test_online_cmvn_leading_silence_leaves_the_speech_frames_about_the_same():
    """Silent frames add exact zeros to the running sums and nothing to the count: only
    the two frames where the zeros meet the speech count in addition."""
    moved = speech_frames_moved(online(log_noise_floor(KEEP)), KEEP, 70)
    legacy = speech_frames_moved(online(None), KALDI, 70)
    assert moved < 0.2 and moved < legacy / 5, (moved, legacy)
    zeros = compute_fbank(torch.zeros(8000), 8000, KEEP)
    norm = online(log_noise_floor(KEEP))
    assert torch.equal(norm(zeros), norm.stream()(zeros))  # only the prior: no 0/0


def test_online_cmvn_with_a_floor_gives_the_same_bits_in_any_chunking():
    feats = compute_fbank(padded(speech(), 4000, 4000, inside=3000), 8000, CFG)
    norm = online(log_noise_floor(CFG))
    whole = norm(feats)
    rng = np.random.default_rng(1)
    stream, pieces, start = norm.stream(), [], 0
    while start < feats.shape[0]:
        n = int(rng.integers(1, 40))
        pieces.append(stream(feats[start:start + n]))
        start += n
    assert torch.equal(torch.cat(pieces), whole)


def test_online_cmvn_without_a_floor_is_unchanged_kaldi_online_cmvn():
    """Kaldi-exact features (floor None): every frame counts, as apply-cmvn-online."""
    feats = compute_fbank(speech(), 8000, KALDI).numpy().astype(np.float64)
    norm = online(None)
    out = norm(torch.from_numpy(feats.astype(np.float32))).numpy()
    t = 60
    n = min(t + 1, norm.window)
    m = max(0, norm.prior_frames - n)
    window = feats.astype(np.float32).astype(np.float64)[t + 1 - n:t + 1]
    mean = (window.sum(0) + m * norm.prior[0]) / (n + m)
    var = (np.square(window).sum(0) + m * norm.prior[1]) / (n + m) - mean ** 2
    np.testing.assert_allclose(out[t], (window[-1] - mean) / np.sqrt(var), rtol=1e-5,
                               atol=1e-5)


def test_top_up_fills_short_stats_with_the_prior_and_leaves_long_ones():
    prior = cmvn_stats.accumulate([np.full((1000, 2), 4.0)])
    short = cmvn_stats.accumulate([np.full((50, 2), 2.0)])
    mixed = cmvn.top_up(short, prior, 200)
    assert mixed[0, -1] == 200 and mixed[0, 0] / 200 == pytest.approx((50 * 2 + 150 * 4) / 200)
    long = cmvn_stats.accumulate([np.full((300, 2), 2.0)])
    assert cmvn.top_up(long, prior, 200) is long and cmvn.top_up(short, None, 200) is short


def test_make_normalizer_tops_up_speakers_only_for_features_with_a_floor(tmp_path):
    prior = cmvn_stats.accumulate([np.full((1000, 3), 4.0), np.full((1000, 3), 6.0)])
    cmvn_stats.save_stats(tmp_path / "cmvn.ark", prior)
    feats = [("u", np.full((20, 3), 2.0) + np.arange(3))]
    cfg = DataConfig(cmvn="speaker")
    new = cmvn.make_normalizer(cfg, tmp_path / "cmvn.ark", None, feats, floor=np.zeros(3))
    old = cmvn.make_normalizer(cfg, tmp_path / "cmvn.ark", None, feats, floor=None)
    x = torch.tensor(feats[0][1], dtype=torch.float32)
    assert old(x, "u").abs().max() < 1e-3  # its own 20 frames: constant, so all zero
    assert new(x, "u").mean() < -0.5  # 180 frames of the prior (mean 5) pull it below


def test_pad_with_silence_adds_exact_zeros_seeded():
    x = speech()
    g = utterance_generator(0, 1, "silence/u")
    out = pad_with_silence(x, 8000, g, (0.1, 0.5))
    nz = torch.nonzero(out).flatten()
    before, after = int(nz[0]), out.numel() - 1 - int(nz[-1])
    first_nz = int(torch.nonzero(x).flatten()[0])
    assert 800 <= before - first_nz <= 4000 and 800 <= after <= 4000 + 10
    assert torch.equal(out[before - first_nz:before - first_nz + x.numel()], x)
    again = pad_with_silence(x, 8000, utterance_generator(0, 1, "silence/u"), (0.1, 0.5))
    assert torch.equal(out, again)


def test_noise_gate_zeros_the_quiet_blocks_and_keeps_the_rest_exactly():
    from asr.config.augment_schema import GateConfig
    from asr.data.wave_augment import noise_gate

    x = speech()  # 0.1 s noise pauses (std 30) between 0.3 s words (amplitude 3000)
    out = noise_gate(x, 8000, -30.0)  # the pauses are about 40 dB below the words
    blocks = out.reshape(-1, 80)
    zero = (blocks == 0).all(dim=1)
    assert zero[:8].all() and not zero[15:35].any()  # the first pause, the first word
    assert torch.equal(blocks[~zero], x.reshape(-1, 80)[~zero])
    assert torch.equal(noise_gate(torch.zeros(800), 8000, -40.0), torch.zeros(800))
    with pytest.raises(ValueError, match="threshold_db"):
        GateConfig(prob=0.5, threshold_db=(-40.0, 5.0))


def test_silence_augmentation_is_drawn_per_utterance_and_epoch():
    aug = WaveAugment(AugmentConfig(silence=SilenceConfig(prob=1.0, seconds=(0.2, 0.2))),
                      8000, seed=0)
    x = speech()
    out, warp = aug(x, 1, "u")
    assert out.numel() == x.numel() + 2 * 1600 and warp == 1.0
    assert AugmentConfig(silence=SilenceConfig(prob=0.5)).active
    with pytest.raises(ValueError, match="seconds"):
        SilenceConfig(prob=0.5, seconds=(-0.1, 0.2))
    assert not math.isnan(float(out.sum()))


@pytest.mark.slow
def test_a_trained_model_decodes_a_dir_and_its_zero_padded_copies_alike(tmp_path):
    """A small BiLSTM trained with the noise floor, speech-frame CMVN and the silence
    augmentation: a dev dir, the same with 0.3-1.0 s of digital silence before and after,
    and with silence inside too, decode to the same hypotheses (a correct one each)."""
    import subprocess
    import sys
    from pathlib import Path

    import soundfile

    from asr.cli import main
    from asr.data.tokenizer import train_tokenizer
    from asr.testing import make_data_dir

    texts = make_data_dir(tmp_path / "train", num_utts=64, seed=0)
    texts.update(make_data_dir(tmp_path / "dev", num_utts=12, seed=1))
    train_tokenizer(list(texts.values()), tmp_path / "lang", "char")
    (tmp_path / "fbank.yaml").write_text("sample_rate: 8000\nnum_mel_bins: 23\n")
    assert main(["fbank", "--on-the-fly", "--config", str(tmp_path / "fbank.yaml"),
                 str(tmp_path / "train"), str(tmp_path / "dev")]) == 0
    assert main(["cmvn", str(tmp_path / "train")]) == 0
    assert main(["cmvn", "--per-speaker", str(tmp_path / "train"), str(tmp_path / "dev")]) == 0
    (tmp_path / "train.yaml").write_text(
        "data: {features: on_the_fly, cmvn: speaker, max_frames: 500,\n"
        "       augment: {silence: {prob: 0.5, seconds: [0.1, 1.0]},\n"
        "                 gate: {prob: 0.3, threshold_db: [-35, -25]}}}\n"
        "model:\n  frontend: {type: conv2d, channels: 8}\n"
        "  encoder: {type: bilstm, num_layers: 1, hidden_size: 96, dropout: 0.0}\n"
        "optim: {lr: 3.0e-3}\nscheduler: {warmup_steps: 20}\n"
        "specaug: {enabled: false}\n"
        "train: {epochs: 40, average_last: 1, num_threads: 1, seed: 0}\n")
    exp = tmp_path / "exp"
    assert main(["train", "--config", str(tmp_path / "train.yaml"), "--exp-dir", str(exp),
                 "--train-dir", str(tmp_path / "train"), "--dev-dir", str(tmp_path / "dev"),
                 "--lang-dir", str(tmp_path / "lang")]) == 0
    script = Path(__file__).resolve().parents[2] / "scripts" / "audio_conditions.py"
    out = subprocess.run([sys.executable, str(script), "--exp-dir", str(exp), "--data-dir",
                          str(tmp_path / "dev"), "--out", str(tmp_path / "cond"),
                          "--conditions", "clean,silence,silence_inside"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    hyps = {c: (tmp_path / "cond" / c / "decode" / "hyp").read_text()
            for c in ("clean", "silence")}
    assert hyps["clean"] == hyps["silence"], out.stdout
    wer = {c: float((tmp_path / "cond" / c / "decode" / "wer").read_text().split()[1])
           for c in ("clean", "silence_inside")}
    # zeros inside can land on a word's quiet onset: at most 2 of the 25 words may change
    assert wer["clean"] <= 4.0 and wer["silence_inside"] <= wer["clean"] + 8.0, out.stdout
    zeros = tmp_path / "zeros.wav"
    soundfile.write(zeros, np.zeros(16000, np.int16), 8000, subtype="PCM_16")
    from asr.decode.files import transcribe_files
    from asr.exp.experiment import Experiment

    assert transcribe_files(Experiment.load(exp), [zeros]).hyps[str(zeros)] == ""
