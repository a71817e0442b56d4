"""scripts/bench_shards.py reads the same features from arks and from shards, cold and warm,
and prints both rows with the shards/arks ratio; without --keep it deletes its data."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_shards_prints_both_methods_and_their_ratio(tmp_path):
    work = tmp_path / "work"
    # --no-drop-caches: a test must not empty the whole machine's page cache
    out = subprocess.run([sys.executable, str(REPO / "scripts/bench_shards.py"),
                          "--hours", "0.02", "--work-dir", str(work), "--passes", "1",
                          "--shard-size", "4", "--utts-per-ark", "4", "--no-drop-caches"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "shards/arks utt/s |" in out.stdout
    rows = {(cache, method): ratio for cache, method, ratio in re.findall(
        r"^\| (cold|warm) +\| (arks, random access|shards, sequential) +\|.*\| ([^|]+?) +\|$",
        out.stdout, re.M)}
    assert set(rows) == {(c, m) for c in ("cold", "warm")
                         for m in ("arks, random access", "shards, sequential")}, out.stdout
    assert rows["cold", "arks, random access"] == "1.00 (reference)"
    assert float(rows["cold", "shards, sequential"]) > 0
    assert float(rows["warm", "shards, sequential"]) > 0
    utts = int(re.search(r"^# data: (\d+) utterances", out.stdout, re.M).group(1))
    shards = re.search(r"^# shards: (\d+) files \((\d+) shards of 4 ", out.stdout, re.M)
    assert shards and int(shards.group(2)) == (utts + 3) // 4 > 1
    assert "posix_fadvise(DONTNEED) on every ark/shard file after os.sync: called" in out.stdout
    assert not work.exists()
