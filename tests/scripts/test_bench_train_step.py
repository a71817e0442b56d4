"""scripts/bench_train_step.py: interleaved blocks, ratio of medians with the spread of the
per-block ratios, and rows flagged unstable when that spread is too wide to trust."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import bench_train_step  # noqa: E402


def test_blocks_alternate_their_order():
    calls = []
    steps = [lambda k=k: calls.append(k) for k in range(3)]
    out = bench_train_step.time_blocks(steps, blocks=2, per_block=2, warmup=1)
    assert calls == [0, 1, 2] + [0, 0, 1, 1, 2, 2] + [2, 2, 1, 1, 0, 0]
    assert [len(blocks) for blocks in out] == [2, 2, 2]
    assert all(len(b) == 2 for blocks in out for b in blocks)


def test_compare_gives_the_ratio_of_medians_and_flags_a_wide_spread():
    ref = [[1.0, 1.0]] * 4
    ours, _, cell = bench_train_step.compare([[1.02, 1.02]] * 4, ref, max_spread=0.05)
    assert ours == 1.02 and cell == "1.020 (IQR 1.020-1.020)"
    noisy = [[0.9, 0.9], [1.0, 1.0], [1.2, 1.2], [1.3, 1.3]]
    _, _, cell = bench_train_step.compare(noisy, ref, max_spread=0.05)
    assert cell.endswith(" unstable")


def test_bench_train_step_prints_every_row():
    out = subprocess.run([sys.executable, str(REPO / "scripts/bench_train_step.py"),
                          "--batch", "2", "--frames", "128", "--blocks", "2", "--per-block",
                          "1", "--warmup", "1"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "1 threads for every loop" in out.stdout
    rows = re.findall(r"^(\S.*?)  +[\d.]+ ms  +[\d.]+ ms \((.+?)\)  +[\d.]+ \(IQR [\d.]+-[\d.]+\)",
                      out.stdout, re.M)
    assert len(rows) == 6
    assert sum("Trainer.train_step" in what for what, _ in rows) == 2
    assert {ref for _, ref in rows} == {"bare torch model", "bare loop, our model"}
