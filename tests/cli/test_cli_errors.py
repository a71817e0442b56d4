"""Bad input reaches the user as one clear line naming the problem, never a traceback.

Missing and broken inputs of every command: tests/cli/test_cli_sweep.py. Here: the command
as a subprocess, and validate-data's multi-line reports.
"""

import re
import subprocess
import sys

import pytest

from asr.cli import COMMANDS, main
from asr.data.kaldi_dir import write_data_dir
from asr.testing import make_data_dir


def asr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "asr", *args], capture_output=True, text=True)


def test_help_lists_subcommands_and_each_has_help(capsys):
    out = asr("--help")
    assert out.returncode == 0
    # whole names, one per line of the COMMAND list ("train" must not match "train-lm")
    assert re.findall(r"^ {4}(\S+)", out.stdout, re.M) == list(COMMANDS)
    for cmd in COMMANDS:
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0 and f"usage: asr {cmd} " in capsys.readouterr().out


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

