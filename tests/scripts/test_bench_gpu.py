"""scripts/bench_gpu.py runs end to end on CPU (--tiny): every section measured, the table
printed, the JSON written; on a GPU the same code runs the 30M model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_gpu_runs_on_cpu_tiny(tmp_path):
    out = tmp_path / "bench.json"
    # the 'eager' compile backend exercises torch.compile's tracing without inductor's
    # minutes of C++ compilation on CPU
    cmd = [sys.executable, str(REPO / "scripts" / "bench_gpu.py"), "--device", "cpu", "--tiny",
           "--budget-s", "60", "--max-steps", "4", "--compile-backend", "eager",
           "--json", str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert p.returncode == 0, p.stdout + p.stderr
    results = json.loads(out.read_text())
    sections = results["sections"]
    assert set(sections) == {"train bf16 eager", "train bf16 torch.compile",
                             "decode greedy fp32"}
    for name in ("train bf16 eager", "train bf16 torch.compile"):
        assert sections[name]["steps"] == 4 and sections[name]["skipped_steps"] == 0
        assert sections[name]["audio_hours_per_device_hour"] > 0
    assert 0 < sections["decode greedy fp32"]["rtf"] < 1
    assert "train bf16 torch.compile: audio h per device h" in p.stdout
    assert "real-time factor" in p.stdout
