"""scripts/bench_hotwords.py prints every row with its ratio, and says that an empty hotword
list changes no hypothesis; scripts/wrong_transcripts.py swaps what it says it swaps."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import wrong_transcripts  # noqa: E402


def test_bench_hotwords_prints_every_row():
    out = subprocess.run([sys.executable, str(REPO / "scripts/bench_hotwords.py"), "--utts",
                          "2", "--frames", "40", "--vocab", "60", "--repeats", "1"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "an empty hotword list gives the same hypotheses as none: True" in out.stdout
    for row in ("no hotwords", "empty hotword list", "25 hotwords", "1000 hotwords",
                "word 3-gram LM, 25 hotwords"):
        assert row in out.stdout, out.stdout


def test_swap_moves_transcripts_between_utterances_only():
    texts = {f"u{i}": t for i, t in enumerate(["ONE", "ONE", "TWO", "SIX", "TWO TWO", "NINE",
                                                "ONE", "FIVE", "TEN", "SIX"])}
    new = wrong_transcripts.swap(texts, 0.3, seed=1)
    changed = [u for u in texts if new[u] != texts[u]]
    assert 2 <= len(changed) <= 3
    assert sorted(new.values()) == sorted(texts.values())  # a permutation of the same texts
