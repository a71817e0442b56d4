"""scripts/bench_denormals.py times an exp's checkpoint with denormals computed and
flushed, and prints the table with their ratio."""

import re
import subprocess
import sys
from pathlib import Path

from asr.testing import make_exp_dir

REPO = Path(__file__).resolve().parents[2]


def test_bench_denormals_prints_both_settings_and_their_ratio(tmp_path):
    exp = make_exp_dir(tmp_path / "exp")
    out = subprocess.run([sys.executable, str(REPO / "scripts/bench_denormals.py"),
                          "--exp-dir", str(exp), "--batch", "2", "--frames", "20",
                          "--steps", "1", "--repeats", "1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "1 forward+backward steps of (2, 20, " in out.stdout
    row = re.search(r"^denormals computed \(torch's default\) +([\d.]+) s +([\d.]+) s +"
                    r"([\d.]+)x$", out.stdout, re.M)
    assert row, out.stdout
    computed, flushed, ratio = map(float, row.groups())
    assert computed > 0 and flushed > 0
    h = 0.0005  # the times are printed to 1 ms, the ratio to 0.01
    assert (computed - h) / (flushed + h) - 0.005 <= ratio <= (computed + h) / (flushed - h) + 0.005
