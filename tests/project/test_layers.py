"""The import contract in pyproject.toml holds, and it does catch a reverse arrow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True)


def test_the_package_keeps_every_contract():
    r = lint(REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


DATA = "data knows neither models nor training nor decoding"
DECODE = "decoding sits below the commands"


@pytest.mark.parametrize(("module", "forbidden", "broken"), [
    ("asr/nn/model.py", "asr.data.tokenizer", ["nn knows neither data nor training nor decoding"]),
    ("asr/functional/lengths.py", "asr.errors",
     ["functional is the pure core: it imports nothing of ours but itself"]),
    # decoding reads shard dirs through asr.data, so the arrow breaks its contract too
    ("asr/data/collate.py", "asr.train.state", [DATA, DECODE]),
    ("asr/train/state.py", "asr.bin.train",
     ["training never parses a command line and never decodes"]),
    ("asr/lm/fusion.py", "asr.functional._beam_kernel",
     ["lm builds fusion tables from the core's public types only"]),
])
def test_a_reverse_import_breaks_the_contract(tmp_path, module, forbidden, broken):
    shutil.copytree(REPO / "asr", tmp_path / "asr",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / module, "a", encoding="utf-8") as f:
        f.write(f"\nimport {forbidden}  # noqa\n")
    r = lint(tmp_path)
    assert r.returncode != 0
    assert f"{len(broken)} broken" in r.stdout, r.stdout
    assert all(f"{name} BROKEN" in r.stdout for name in broken), r.stdout
    assert f"{module[:-3].replace('/', '.')} -> {forbidden}" in r.stdout
