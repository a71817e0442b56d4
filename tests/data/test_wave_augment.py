"""The waveform augmentations as functions (asr.data.wave_augment, wsola, rir_sim) and the
noise/RIR sources (asr.data.audio_bank). On-the-fly use in training batches and the
offline data-dir stage: tests/data/test_augment.py."""

import pickle

import numpy as np
import pytest
import soundfile
import torch

from asr.data import audio_bank
from asr.data.audio_bank import AudioBank
from asr.data.perturb import speed_perturb
from asr.data.rir_sim import simulate_rir, write_rirs
from asr.data.torchaudio_lib import torchaudio
from asr.data.wave_augment import mix_at_snr, noise_segment, normalize_rir, reverberate
from asr.data.wsola import tempo
from asr.errors import DataError
from asr.testing.fixtures import synth_utterance

RATE = 8000


def speech(seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(synth_utterance([1, 5, 9], RATE, seed).astype(np.float32))


def db(x: np.ndarray, y: np.ndarray) -> float:
    return 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum(y.astype(np.float64) ** 2))


def test_noise_is_mixed_at_the_drawn_snr_as_torchaudio_add_noise_would():
    x = speech()
    noise = torch.randn(x.numel(), generator=torch.Generator().manual_seed(1)) * 500
    for snr in (-5.0, 0.0, 7.3, 20.0, 40.0):
        y = mix_at_snr(x, noise, snr)
        assert y.shape == x.shape and y.dtype == torch.float32
        assert abs(db(x.numpy(), (y - x).numpy()) - snr) < 0.1, snr
        ref = torchaudio.functional.add_noise(x[None], noise[None], torch.tensor([snr]))[0]
        assert torch.allclose(y, ref, rtol=1e-5, atol=1e-2)
    assert mix_at_snr(x, torch.zeros_like(x), 0.0) is x  # silent noise: nothing to scale


def test_a_noise_stretch_is_contiguous_and_loops_when_short():
    g = torch.Generator().manual_seed(0)
    short = torch.arange(10.0)
    for _ in range(20):
        seg = noise_segment(short, 25, g)
        assert seg.numel() == 25 and torch.equal(seg, (seg[0] + torch.arange(25.0)) % 10)
    long = torch.arange(1000.0)
    for _ in range(20):
        seg = noise_segment(long, 25, g)
        assert torch.equal(seg, seg[0] + torch.arange(25.0)) and seg[-1] < 1000


@pytest.mark.parametrize("position,length", [(0, 1), (7, 50), (1500, 2000)])
def test_an_impulse_rir_at_any_position_returns_the_input_exactly(position, length):
    x = speech()[:800]  # the last RIR is longer than the utterance
    rir = torch.zeros(length)
    rir[position] = 0.3
    out = reverberate(x, normalize_rir(rir, "impulse"))
    assert torch.equal(out, x)


def test_reverberation_keeps_length_and_aligns_on_the_direct_path():
    x = speech()
    rng = np.random.default_rng(0)
    rir = np.zeros(900)
    rir[40] = 1.0  # the direct path, 5 ms in
    rir[60:] = rng.normal(0, 0.05, 840) * np.exp(-np.arange(840) / 200)
    r = normalize_rir(torch.from_numpy(rir.astype(np.float32)), "r")
    assert abs(float(r.double().pow(2).sum()) - 1) < 1e-6
    out = reverberate(x, r)
    assert out.shape == x.shape
    full = np.convolve(x.numpy().astype(np.float64), r.numpy().astype(np.float64))
    np.testing.assert_allclose(out.numpy(), full[40:40 + x.numel()], rtol=1e-4, atol=0.05)
    lags = range(-50, 51)  # the dry signal lines up with the wet one at lag 0
    corr = [float(np.dot(np.roll(x.numpy(), k), out.numpy())) for k in lags]
    assert lags[int(np.argmax(corr))] == 0
    with pytest.raises(DataError, match="RIR 'silent.wav' has zero energy"):
        normalize_rir(torch.zeros(100), "silent.wav")


def test_tempo_changes_duration_not_pitch_unlike_speed():
    t = np.arange(RATE) / RATE
    x = torch.from_numpy((3000 * np.sin(2 * np.pi * 200 * t)).astype(np.float32))

    def pitch(y: torch.Tensor) -> float:
        spectrum = np.abs(np.fft.rfft(y.numpy()))
        return float(np.fft.rfftfreq(y.numel(), 1 / RATE)[np.argmax(spectrum)])

    for factor in (0.8, 0.9, 1.1, 1.25):
        y = tempo(x, RATE, factor)
        assert y.numel() == round(RATE / factor)
        assert abs(pitch(y) - 200) <= 2, factor
        assert abs(float(y[800:-800].abs().max()) - 3000) < 60  # no dips where windows meet
    assert abs(pitch(speed_perturb(x, RATE, 1.25)) - 250) <= 2  # speed moves the pitch
    assert tempo(x, RATE, 1.0) is x
    assert torch.equal(tempo(speech(), RATE, 1.1), tempo(speech(), RATE, 1.1))


def test_simulated_rirs_peak_at_the_direct_path_and_decay_over_rt60(tmp_path):
    for i, rt60 in enumerate((0.3, 0.6, 1.2)):
        rir = simulate_rir(16000, rt60, 3.0, np.random.default_rng(i))
        assert 16 <= int(np.argmax(np.abs(rir))) <= 80  # 1-5 ms: the direct path
        tail = rir.copy()
        tail[np.argmax(np.abs(rir))] = 0
        decay = 10 * np.log10(np.cumsum((tail ** 2)[::-1])[::-1] / np.sum(tail ** 2))
        t5, t25 = (np.argmax(decay < level) / 16000 for level in (-5, -25))
        assert abs(3 * (t25 - t5) - rt60) < 0.15 * rt60  # T20 extrapolated, Schroeder
    assert write_rirs(tmp_path / "a", 3, 8000, seed=4) == 3
    write_rirs(tmp_path / "b", 5, 8000, seed=4)
    for name in ("rir-00001", "rir-00003"):  # RIR i depends on (seed, i), not on --num
        assert (tmp_path / "a" / "wav" / f"{name}.wav").read_bytes() == \
            (tmp_path / "b" / "wav" / f"{name}.wav").read_bytes()
    bank = AudioBank(tmp_path / "b", "RIR", "reverb", 8000, max_seconds=2.0,
                     prepare=normalize_rir)
    assert len(bank) == 5 and all(bank.get(i).numel() < 2 * 8000 for i in range(5))
    with pytest.raises(DataError, match="--rt60 0.8:0.2"):
        write_rirs(tmp_path / "c", 1, 8000, 0, rt60=(0.8, 0.2))


def write(path, seconds: float, rate: int = RATE, amplitude: float = 1000.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    soundfile.write(path, (rng.normal(0, amplitude, int(seconds * rate))).astype(np.int16),
                    rate, subtype="PCM_16")


def test_sources_are_listed_recursively_and_bad_ones_named(tmp_path):
    write(tmp_path / "musan" / "noise" / "free-sound" / "n1.wav", 0.5)
    write(tmp_path / "musan" / "noise" / "sound-bible" / "n2.flac", 0.2)
    (tmp_path / "musan" / "README").write_text("not audio")
    bank = AudioBank(tmp_path / "musan", "noise", "noise", RATE)
    assert [e[0] for e in bank.entries] == ["noise/free-sound/n1.wav", "noise/sound-bible/n2.flac"]
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match=f"noise source {tmp_path / 'empty'}: no audio"):
        AudioBank(tmp_path / "empty", "noise", "noise", RATE)
    with pytest.raises(DataError, match="noise source not found"):
        AudioBank(tmp_path / "nowhere", "noise", "noise", RATE)
    write(tmp_path / "wide" / "n16k.wav", 0.5, rate=16000)
    with pytest.raises(DataError, match=r"n16k.wav' is 16000 Hz.*allow_resample: true"):
        AudioBank(tmp_path / "wide", "noise", "noise", RATE)
    resampled = AudioBank(tmp_path / "wide", "noise", "noise", RATE, allow_resample=True)
    assert resampled.get(0).numel() == RATE // 2
    write(tmp_path / "rirs" / "hall.wav", 2.5)
    with pytest.raises(DataError, match=r"RIR '.*hall.wav' is 2.50 s long, over the 2 s"):
        AudioBank(tmp_path / "rirs", "RIR", "reverb", RATE, max_seconds=2.0)
    write(tmp_path / "zero" / "z.wav", 0.1, amplitude=0.0)
    zero = AudioBank(tmp_path / "zero", "RIR", "reverb", RATE, max_seconds=2.0,
                     prepare=normalize_rir)
    with pytest.raises(DataError, match=r"RIR '.*z.wav' has zero energy"):
        zero.get(0)


def test_audio_is_loaded_once_per_process_and_not_pickled(tmp_path, monkeypatch):
    write(tmp_path / "n" / "a.wav", 0.5)
    write(tmp_path / "n" / "b.wav", 0.3)
    loads = []
    real = audio_bank.load_audio
    monkeypatch.setattr(audio_bank, "load_audio", lambda rx, *a: loads.append(rx) or real(rx, *a))
    bank = AudioBank(tmp_path / "n", "noise", "noise", RATE)
    g = torch.Generator().manual_seed(0)
    picked = [bank.pick(g) for _ in range(20)]
    assert sorted(loads) == sorted({e[1] for e in bank.entries}) and len(loads) == 2
    assert {p.numel() for p in picked} == {RATE // 2, int(0.3 * RATE)}
    copy = pickle.loads(pickle.dumps(bank))  # what a spawned DataLoader worker gets
    assert not copy._cache and copy.entries == bank.entries
    monkeypatch.setattr(audio_bank, "CACHE_SAMPLES", RATE // 2)  # room for one file
    loads.clear()
    for i in (0, 1, 0, 1):
        copy.get(i)
    assert len(loads) == 4
