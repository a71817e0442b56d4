"""Word times on the audio's clock when fbank cuts runs of digital silence: the kept-frame
indices (offline and streaming agree), which features may hold a cut, the time mapping,
and decodes and alignments of audio whose silence was lengthened."""

import numpy as np
import pytest
import soundfile
import torch
from test_streaming_recognizer import streaming_exp

from asr.cli import main
from asr.config.schema import FbankConfig
from asr.data.ctm import CtmWord, read_ctm
from asr.data.features import compute_fbank
from asr.data.kaldi_dir import read_kv, write_data_dir
from asr.data.silence_frames import kept_frames, may_hold_cut
from asr.data.streaming_fbank import StreamingFbank
from asr.decode.timing import Timed, TokenTime, with_cut_silence

CFG = FbankConfig(sample_rate=8000, num_mel_bins=23)  # silence_frames 20, noise floor 0.1
SHIFT = 80  # samples per 10 ms frame at 8 kHz


def speech(seconds: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1000, int(seconds * 8000)).astype(np.float32)


def with_gap(gap_frames: int) -> np.ndarray:
    """0.5 s of noise, ``gap_frames`` frames of exact zeros, 0.5 s of noise."""
    return np.concatenate([speech(0.5, 0), np.zeros(gap_frames * SHIFT, np.float32),
                           speech(0.5, 1)])


def test_kept_frames_index_the_frames_fbank_keeps():
    audio = torch.from_numpy(with_gap(100))
    everything = compute_fbank(audio, 8000, FbankConfig(**{**CFG.__dict__, "silence_frames": -1}))
    cut = compute_fbank(audio, 8000, CFG)
    kept = kept_frames(audio, 8000, CFG)
    assert kept is not None and len(kept) == len(cut) < len(everything)
    assert np.all(np.diff(kept) >= 1) and kept[-1] == len(everything) - 1
    # the kept frames are those of the uncut features (the noise floor aside, identical)
    uncut = compute_fbank(audio, 8000, FbankConfig(**{**CFG.__dict__, "silence_frames": 10**6}))
    assert torch.equal(cut, uncut[torch.from_numpy(kept)])
    assert kept_frames(torch.from_numpy(with_gap(5)), 8000, CFG) is None  # nothing cut


def test_fbank_in_pieces_is_the_whole(monkeypatch):
    """An hour's fbank is computed a piece at a time: the same frames, and the same ones
    cut, as in one go (pieces of 7 frames against one piece), up to float rounding (a
    matrix product over fewer rows may round differently)."""
    from asr.data import features

    audio = torch.from_numpy(np.concatenate([with_gap(100), with_gap(3), with_gap(37)]))
    whole = compute_fbank(audio, 8000, CFG)
    whole_kept = kept_frames(audio, 8000, CFG)
    monkeypatch.setattr(features, "FBANK_PIECE_FRAMES", 7)
    torch.testing.assert_close(compute_fbank(audio, 8000, CFG), whole, atol=1e-4, rtol=1e-5)
    assert np.array_equal(kept_frames(audio, 8000, CFG), whole_kept)


def test_streaming_fbank_knows_its_kept_frames():
    audio = with_gap(150)
    offline = kept_frames(torch.from_numpy(audio), 8000, CFG)
    stream = StreamingFbank(CFG)
    rng = np.random.default_rng(0)
    start, frames = 0, 0
    while start < audio.size:
        n = int(rng.integers(1, 900))
        frames += stream.accept(torch.from_numpy(audio[start:start + n])).shape[0]
        start += n
    assert np.array_equal(stream.kept_frames().numpy(), offline) and frames == len(offline)
    stream.reset()
    stream.accept(torch.from_numpy(speech(0.3, 2)))
    assert stream.kept_frames() is None


def test_may_hold_cut_only_where_a_run_of_silent_frames_is_left():
    def feats(audio):
        return compute_fbank(torch.from_numpy(audio), 8000, CFG).numpy()

    assert may_hold_cut(feats(with_gap(100)), CFG)
    assert not may_hold_cut(feats(with_gap(10)), CFG)  # a short run: nothing was cut
    assert not may_hold_cut(feats(speech(1.0, 3)), CFG)
    assert not may_hold_cut(feats(with_gap(100)), FbankConfig(**{**CFG.__dict__,
                                                                "silence_frames": -1}))


def test_with_cut_silence_moves_times_past_each_cut():
    # frames 0-9 kept, 10-49 cut, 50-59 kept: 10 ms frames, 25 ms long (centre at 12.5 ms)
    kept = np.concatenate([np.arange(10), np.arange(50, 60)])
    offset = 0.0075  # (length - shift) / 2: frame i owns [i * 10 ms + 7.5 ms, ... + 10 ms)
    before = CtmWord("a", offset + 0.02, offset + 0.10)  # frames 2-9: untouched
    after = CtmWord("b", offset + 0.10, offset + 0.15)  # frames 10-14 -> 50-54
    timed = Timed([before, after], [TokenTime("b", offset + 0.12, offset + 0.13, 0.5)], -1.0)
    out = with_cut_silence(timed, kept, 0.01, 0.025)
    assert out.words[0].start == pytest.approx(before.start)
    assert out.words[0].end == pytest.approx(before.end)  # ends at a cut: stays before it
    assert out.words[1].start == pytest.approx(offset + 0.50)
    assert out.words[1].end == pytest.approx(offset + 0.55)
    assert out.tokens[0].start == pytest.approx(offset + 0.52) and out.tokens[0].conf == 0.5
    assert out.path_logp == -1.0


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return streaming_exp(tmp_path_factory.mktemp("cuts"))


def lengthened(data, root, gap_frames: int) -> tuple:
    """A copy of ``data``'s audio with ``gap_frames`` frames of exact zeros inserted at
    the frame grid point nearest the middle of each file: (data dir, gap start (s))."""
    out = root / f"gap{gap_frames}"
    (out / "wav").mkdir(parents=True)
    wav_scp, gap_at = {}, {}
    for utt, path in read_kv(data / "wav.scp").items():
        audio, rate = soundfile.read(path, dtype="int16")
        at = audio.size // 2 // SHIFT * SHIFT
        new = np.concatenate([audio[:at], np.zeros(gap_frames * SHIFT, np.int16), audio[at:]])
        wav_scp[utt] = str(out / "wav" / f"{utt}.wav")
        soundfile.write(wav_scp[utt], new, rate, subtype="PCM_16")
        gap_at[utt] = at / rate
    write_data_dir(out, wav_scp, read_kv(data / "text"), read_kv(data / "utt2spk"))
    return out, gap_at


@pytest.mark.parametrize("command", ["align", "decode", "streaming"])
def test_times_after_a_lengthened_silence_move_by_its_length(setup, tmp_path, command):
    """Gaps of 0.3 s and 2.3 s of zeros are both cut to 20 frames, so the model sees the
    same features and hears the same words: times before the gap agree, times after it
    are 2.0 s later in the longer one."""
    exp, data = setup
    ctms = []
    for gap in (30, 230):
        d, gap_at = lengthened(data, tmp_path, gap)
        out = tmp_path / f"{command}{gap}"
        args = ["--exp-dir", str(exp), "--data-dir", str(d), "--out", str(out)]
        if command == "align":
            assert main(["align", *args]) == 0
        else:
            extra = ["--streaming"] if command == "streaming" else []
            assert main(["decode", *args, "--ctm", *extra]) == 0
        ctms.append(read_ctm(out / "ctm"))
    short, long_ = ctms
    moved = 0
    assert short.keys() == long_.keys()
    for utt, words in short.items():
        assert [w.word for w in words] == [w.word for w in long_[utt]]
        gap_end = gap_at[utt] + 0.21  # past the 20 kept frames and the straddling ones
        for a, b in zip(words, long_[utt], strict=True):
            if gap_at[utt] < a.start < gap_end:  # starts in the 20 silent frames kept
                continue
            shift = 2.0 if a.start >= gap_end else 0.0
            assert b.start == pytest.approx(a.start + shift, abs=1e-3)
            if a.end <= gap_at[utt] or a.start >= gap_end:
                assert b.end == pytest.approx(a.end + shift, abs=1e-3)
            moved += shift > 0
    if command == "align":
        assert moved > 0  # the transcripts' words lie on both sides of the gap
