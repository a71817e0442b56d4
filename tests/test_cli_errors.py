"""Bad input reaches the user as one clear line naming the problem, never a traceback."""

import subprocess
import sys

from asr.data.kaldi_dir import write_data_dir
from asr.testing import make_data_dir


def asr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "asr", *args], capture_output=True, text=True)


def test_help_lists_subcommands_and_each_has_help():
    out = asr("--help")
    assert out.returncode == 0
    for cmd in ("fbank", "cmvn", "tokenizer", "train", "decode", "score", "validate-data",
                "fix-data", "subset-data", "combine-data", "copy-data", "lhotse-import",
                "lhotse-export", "transcribe", "export", "train-lm", "average"):
        assert cmd in out.stdout
        assert asr(cmd, "--help").returncode == 0


def test_text_naming_missing_utterance(tmp_path):
    make_data_dir(tmp_path / "d", num_utts=2)
    with open(tmp_path / "d" / "text", "a") as f:
        f.write("spk9-ghost ONE TWO\n")
    out = asr("validate-data", str(tmp_path / "d"))
    assert out.returncode == 2
    assert "not_in:wav.scp: 1 (spk9-ghost)" in out.stderr
    assert "Traceback" not in out.stderr


def test_empty_transcript(tmp_path):
    write_data_dir(tmp_path, {"u1": "/a.wav", "u2": "/b.wav"}, {"u1": "ONE", "u2": "TWO"},
                   {"u1": "s", "u2": "s"})
    (tmp_path / "text").write_text("u1 ONE\nu2 \n")
    out = asr("validate-data", str(tmp_path))
    assert out.returncode == 2
    assert "empty_transcript: 1 (text:2 u2)" in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_config_key_from_cli(tmp_path):
    (tmp_path / "c.yaml").write_text("train: {epochs: 1}\n")
    out = asr("train", "--config", str(tmp_path / "c.yaml"), "--exp-dir", str(tmp_path / "e"),
              "--train-dir", "x", "--dev-dir", "y", "--lang-dir", "z", "optim.learning_rate=1")
    assert out.returncode == 2
    assert "unknown key 'optim.learning_rate'" in out.stderr and "Traceback" not in out.stderr


def test_decode_without_exp(tmp_path):
    make_data_dir(tmp_path / "d", num_utts=1)
    out = asr("decode", "--exp-dir", str(tmp_path / "none"), "--data-dir", str(tmp_path / "d"),
              "--out", str(tmp_path / "o"))
    assert out.returncode == 2 and "not an experiment dir" in out.stderr
