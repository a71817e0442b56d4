"""scripts/bench_streaming.py runs on a random digits-sized model and prints the cost per
chunk as a share of the chunk's duration."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_streaming_prints_cost_per_chunk():
    out = subprocess.run([sys.executable, str(REPO / "scripts/bench_streaming.py"),
                          "--seconds", "2", "--method", "prefix_beam", "--beam", "4"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "random digits streaming Conformer" in out.stdout
    assert "7 chunks of 320 ms (8 encoder frames)" in out.stdout
    shares = re.findall(r"^ *(mean|p95|max|finalize): +[\d.]+ ms per chunk = +([\d.]+) % ",
                        out.stdout, re.M)
    assert [name for name, _ in shares] == ["mean", "p95", "max", "finalize"]
    assert all(float(s) > 0 for _, s in shares)
