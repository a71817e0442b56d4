"""The yesno recipe, as a user runs it, on Kaldi's 60 real files (CI sets YESNO_DIR)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# stage 6's lines: asr decode's %WER line with the method and the set appended
WER = re.compile(r"^%WER (\d+\.\d\d) \[ \d+ / \d+, \d+ ins, \d+ del, \d+ sub \] (\S+) (\S+)$",
                 re.M)


@pytest.mark.e2e
def test_yesno_recipe_learns_the_real_files(tmp_path, yesno_dir):
    """Every stage on the real files: icefall's TDNN-CTC gets 0.42 %WER (1 / 240) on the
    test half, an all-blank output 100.00; so must we get icefall's."""
    out = subprocess.run([str(REPO / "recipes/yesno/run.sh"), "--corpus-dir", str(yesno_dir),
                          "--data", str(tmp_path / "data"), "--exp", str(tmp_path / "exp")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    data = tmp_path / "data"
    assert len((data / "train" / "text").read_text().splitlines()) == 30
    assert len((data / "test" / "text").read_text().splitlines()) == 30
    assert (data / "manifests" / "yesno_supervisions_train.jsonl.gz").is_file()
    wers = {(m, s): float(v) for v, m, s in WER.findall(out.stdout)}
    assert set(wers) == {("greedy", "test"), ("prefix_beam", "test")}, out.stdout
    assert max(wers.values()) <= 0.42, out.stdout
