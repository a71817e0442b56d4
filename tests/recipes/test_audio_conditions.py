"""scripts/audio_conditions.py: each transform does what it says, sample-exact and seeded;
the condition dirs are written once, from plain or segmented audio; and the script decodes
every condition with `asr decode` and prints one table row each."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from asr.data.kaldi_dir import DataDir, Segment, write_data_dir
from asr.testing import make_data_dir, make_exp_dir

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import audio_conditions as ac  # noqa: E402

RATE = 8000


def speechy(seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    """int16-scale audio with no zero sample: loud tones with a noise floor."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    x = np.round(4000 * np.sin(2 * np.pi * 220 * t) + rng.normal(0, 50, t.size))
    x[x == 0] = 1
    return x


def words_and_gap(gap_at: float, seed: int = 0) -> tuple[np.ndarray, int, int]:
    """noise, loud word, a 100 ms quiet gap at ``gap_at`` s, loud word, noise; with the gap's
    sample range."""
    rng = np.random.default_rng(seed)
    total = int(1.6 * RATE)
    t = np.arange(total) / RATE
    x = 6000 * np.sin(2 * np.pi * 300 * t) + rng.normal(0, 40, total)
    lo, hi = int(gap_at * RATE), int((gap_at + 0.1) * RATE)
    x[lo:hi] = rng.normal(0, 5, hi - lo)
    x[:int(0.2 * RATE)] = rng.normal(0, 30, int(0.2 * RATE))
    x[-int(0.2 * RATE):] = rng.normal(0, 30, int(0.2 * RATE))
    return np.round(x), lo, hi


def leading_zeros(y: np.ndarray) -> int:
    return int(np.argmax(y != 0))


def test_clean_is_the_audio_as_read():
    x = speechy()
    y, rate = ac.apply("clean", x, RATE, "u1", 0)
    assert rate == RATE and np.array_equal(y, x)


def test_silence_adds_exact_zeros_at_both_ends_and_keeps_the_middle():
    x = speechy()
    y, rate = ac.apply("silence", x, RATE, "spk1-utt7", 3)
    rng = ac.utt_rng("spk1-utt7", 3)
    before, after = ac.draw_pad(RATE, rng), ac.draw_pad(RATE, rng)
    assert rate == RATE and len(y) == len(x) + before + after
    assert 0.3 * RATE <= before <= RATE and 0.3 * RATE <= after <= RATE and before != after
    assert np.all(y[:before] == 0) and np.all(y[len(y) - after:] == 0)
    assert np.array_equal(y[before:before + len(x)], x)
    assert int((y == 0).sum()) == before + after  # x has no zero, so these are all of them


def test_silence_inside_pauses_in_the_quiet_gap_never_in_a_word():
    for seed, gap_at in enumerate((0.5, 0.75, 1.0)):  # all inside the middle half (0.4-1.2 s)
        x, lo, hi = words_and_gap(gap_at, seed)
        at = ac.quietest_point(x, RATE)
        assert lo <= at < hi, (gap_at, at / RATE)
        y, _ = ac.apply("silence_inside", x, RATE, f"u{seed}", 0)
        rng = ac.utt_rng(f"u{seed}", 0)
        before, after, inside = (ac.draw_pad(RATE, rng) for _ in range(3))
        assert 0.3 * RATE <= inside <= RATE
        expect = np.concatenate([np.zeros(before), x[:at], np.zeros(inside), x[at:],
                                 np.zeros(after)])
        assert np.array_equal(y, expect)
        # the same end padding as the silence condition of that utterance
        s, _ = ac.apply("silence", x, RATE, f"u{seed}", 0)
        assert leading_zeros(s) == leading_zeros(y)


def test_quietest_point_looks_only_in_the_middle_half():
    x, lo, hi = words_and_gap(0.5)
    x[:int(0.35 * RATE)] = 0  # digital silence at the start is not in the middle half
    at = ac.quietest_point(x, RATE)
    assert lo <= at < hi
    assert ac.quietest_point(np.ones(10), RATE) == 5  # too short for a 10 ms frame: the middle


def test_quieter_is_24_db_down_rounded():
    x = speechy()
    y, rate = ac.apply("quieter", x, RATE, "u", 0)
    assert rate == RATE and np.array_equal(y, np.round(x * 10 ** (-24 / 20)))
    db = 10 * np.log10(np.square(y).sum() / np.square(x).sum())
    assert abs(db + 24) < 0.05


@pytest.mark.parametrize("scale", [0.01, 1.0, 7.0])
def test_peak_is_at_minus_1_dbfs(scale):
    x = np.clip(np.round(speechy() * scale), -32768, 32767)
    y, rate = ac.apply("peak", x, RATE, "u", 0)
    target = 32767 * 10 ** (-1 / 20)
    assert rate == RATE and np.abs(y).max() == round(target)
    assert np.allclose(y, x * target / np.abs(x).max(), atol=0.5)
    assert np.array_equal(ac.apply("peak", np.zeros(100), RATE, "u", 0)[0], np.zeros(100))


def test_dc_adds_2000_and_clips():
    x = speechy()
    y, rate = ac.apply("dc", x, RATE, "u", 0)
    assert rate == RATE and np.array_equal(y, x + 2000)
    y, _ = ac.apply("dc", np.array([32000.0, 30767.0, -32768.0]), RATE, "u", 0)
    assert y.tolist() == [32767, 32767, -30768]


def test_resampled_doubles_the_rate_and_keeps_the_pitch():
    x = speechy(1.0)
    y, rate = ac.apply("resampled", x, RATE, "u", 0)
    assert rate == 2 * RATE and len(y) == 2 * len(x)
    assert np.array_equal(y, np.round(y)) and np.abs(y).max() <= 32767
    freqs = np.fft.rfftfreq(len(y), 1 / rate)
    assert abs(freqs[np.argmax(np.abs(np.fft.rfft(y)))] - 220) < 2


def test_draws_depend_on_seed_and_utterance_only():
    x = speechy()
    a = ac.apply("silence_inside", x, RATE, "spk-1", 0)[0]
    assert np.array_equal(a, ac.apply("silence_inside", x, RATE, "spk-1", 0)[0])
    assert not np.array_equal(a, ac.apply("silence_inside", x, RATE, "spk-1", 1)[0])
    assert not np.array_equal(a, ac.apply("silence_inside", x, RATE, "spk-2", 0)[0])


def test_condition_dirs_are_identical_across_runs_and_written_once(tmp_path):
    make_data_dir(tmp_path / "data", num_utts=3)
    names = ["clean", "silence", "resampled"]
    assert ac.write_conditions(tmp_path / "data", tmp_path / "a", names, 0) == names
    assert ac.write_conditions(tmp_path / "data", tmp_path / "b", names, 0) == names
    for n in names:
        d = DataDir.load(tmp_path / "a" / n)
        assert d.text == DataDir.load(tmp_path / "data").text
        for utt, rx in d.wav_scp.items():
            assert Path(rx) == (tmp_path / "a" / n / "wav" / f"{utt}.wav").resolve()
            assert Path(rx).read_bytes() == (tmp_path / "b" / n / "wav" / f"{utt}.wav") \
                .read_bytes()
        assert (tmp_path / "a" / n / "spk2utt").is_file()
    first = (tmp_path / "a" / "silence" / "wav.scp").stat().st_mtime_ns
    assert ac.write_conditions(tmp_path / "data", tmp_path / "a", names + ["dc"], 0) == ["dc"]
    assert (tmp_path / "a" / "silence" / "wav.scp").stat().st_mtime_ns == first
    assert not list(tmp_path.glob("a/*.partial"))
    with pytest.raises(ac.AsrError, match="was not made from .* seed=1"):
        ac.write_conditions(tmp_path / "data", tmp_path / "a", names, 1)
    info = soundfile.info(next((tmp_path / "a" / "resampled" / "wav").iterdir()))
    assert info.samplerate == 2 * RATE and info.subtype == "PCM_16"


def test_segments_become_one_wav_per_utterance(tmp_path):
    rec = speechy(2.0).astype(np.int16)
    soundfile.write(tmp_path / "rec.wav", rec, RATE, subtype="PCM_16")
    data = tmp_path / "data"
    write_data_dir(data, {"rec": str(tmp_path / "rec.wav")}, {"a": "ONE", "b": "TWO"},
                   {"a": "s", "b": "s"},
                   segments={"a": Segment("rec", 0.25, 1.0), "b": Segment("rec", 1.5, -1)})
    ac.write_conditions(data, tmp_path / "out", ["clean"], 0)
    d = DataDir.load(tmp_path / "out" / "clean")
    assert d.segments is None and sorted(d.wav_scp) == ["a", "b"]
    a = soundfile.read(d.wav_scp["a"], dtype="int16")[0]
    b = soundfile.read(d.wav_scp["b"], dtype="int16")[0]
    assert np.array_equal(a, rec[2000:8000]) and np.array_equal(b, rec[12000:])


def test_bad_options_and_missing_text_are_clear_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        ac.parse_args(["--exp-dir", "e", "--data-dir", "d", "--out", "o",
                       "--conditions", "clean,louder"])
    assert "unknown condition(s) louder" in capsys.readouterr().err
    args, extra = ac.parse_args(["--exp-dir", "e", "--data-dir", "d", "--out", "o", "--",
                                 "--beam", "4"])
    assert args.conditions == list(ac.CONDITIONS) and extra == ["--beam", "4"]
    make_data_dir(tmp_path / "data", num_utts=2)
    (tmp_path / "data" / "text").unlink()
    assert ac.main(["--exp-dir", "e", "--data-dir", str(tmp_path / "data"),
                    "--out", str(tmp_path / "out")]) == 2
    assert "text is required" in capsys.readouterr().err


def test_table_compares_with_clean():
    rows = ac.table({"clean": ac.Wer(10.0, 1, 10), "dc": ac.Wer(30.0, 3, 10)}).splitlines()
    assert rows[2] == "| clean | the audio as read, re-written | 10.00 | [1 / 10] | — |"
    assert rows[3] == "| dc | DC offset of +2000 | 30.00 | [3 / 10] | +20.00 |"


ROW = re.compile(r"^\| (\w+) \| [^|]+ \| (\d+\.\d\d) \| \[(\d+) / (\d+)\] \| (\S+) \|$", re.M)


@pytest.mark.slow
def test_script_decodes_every_condition_and_prints_the_table(tmp_path):
    exp = make_exp_dir(tmp_path / "exp")  # untrained: the numbers only need to parse
    text = make_data_dir(tmp_path / "data", num_utts=3)
    out = subprocess.run([sys.executable, str(REPO / "scripts/audio_conditions.py"),
                          "--exp-dir", str(exp), "--data-dir", str(tmp_path / "data"),
                          "--out", str(tmp_path / "out"), "--jobs", "2"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = {m[0]: m[1:] for m in ROW.findall(out.stdout)}
    assert list(rows) == list(ac.CONDITIONS), out.stdout
    words = sum(len(t.split()) for t in text.values())
    clean = float(rows["clean"][0])
    for name, (wer, errors, n, diff) in rows.items():
        assert int(n) == words and float(wer) == pytest.approx(100 * int(errors) / words,
                                                               abs=0.005)
        assert diff == "—" if name == "clean" else float(diff) == pytest.approx(
            float(wer) - clean, abs=0.01)
    assert "--allow-resample" in out.stderr
