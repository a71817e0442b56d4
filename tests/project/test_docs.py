"""The documentation stays true: the config reference is regenerated and compared, the
`bash` blocks of docs/*.md run on a generated data dir, and the commands of `sh` blocks
(cluster jobs, downloads) are checked against the real argument parsers and --help."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from asr.cli import build_parser
from asr.config.reference import render
from asr.testing import make_data_dir

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
ORDER = ["getting_started.md"]  # pages whose blocks later pages build on come first
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.M | re.S)


def blocks(lang: str) -> list[tuple[str, str]]:
    pages = sorted(DOCS.glob("*.md"), key=lambda p: (p.name not in ORDER, p.name))
    return [(p.name, m.group(2)) for p in pages for m in BLOCK.finditer(p.read_text())
            if m.group(1) == lang]


def commands(block: str) -> list[list[str]]:
    """Each shell command of a block as words: continuations joined, comments dropped."""
    out = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words:
            out.append(words)
    return out


def test_config_reference_is_fresh():
    assert (DOCS / "config_reference.md").read_text() == render(), (
        "docs/config_reference.md is stale: python -m asr.config.reference "
        "docs/config_reference.md")


@pytest.mark.e2e
def test_bash_blocks_run_on_a_generated_data_dir(tmp_path):
    for name, n, seed in (("train", 12, 0), ("dev", 4, 1), ("test", 4, 2)):
        make_data_dir(tmp_path / "data" / name, num_utts=n, rate=16000, seed=seed)
    (tmp_path / "conf").symlink_to(REPO / "conf")
    script = "set -euxo pipefail\n" + "\n".join(
        f"# --- {page}\n{block}" for page, block in blocks("bash"))
    out = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-6000:]
    assert re.search(r"^%WER \d+\.\d\d \[", out.stdout, re.M)  # the tour's score line
    assert (tmp_path / "manifests/train/cuts.jsonl.gz").is_file()
    assert len(blocks("bash")) >= 5


def _check_options(script: str, words: list[str]) -> None:
    """Every --option given to a run.sh or scripts/*.sh exists in its --help."""
    path = next(p for p in (REPO / script, REPO / "recipes" / script) if p.is_file())
    help_text = subprocess.run([str(path), "--help"], capture_output=True, text=True).stdout
    for w in words:
        if w == "--":
            break
        if w.startswith("--"):
            assert f"  {w.split('=')[0]} " in help_text, f"{script}: no option {w}"


def test_sh_blocks_use_real_commands_and_options():
    parser = build_parser()
    checked = 0
    for _, block in blocks("sh"):
        for words in commands(block):
            if words[0] == "sbatch":  # sbatch [its options] SCRIPT asr-train-args
                words = words[next(i for i, w in enumerate(words) if w.endswith(".sh")):]
            if "..." in words:  # "the same arguments as above"
                words = words[:words.index("...")]
            if words[0] == "asr":
                parser.parse_args(words[1:])  # exits (fails the test) on a wrong option
            elif words[0].endswith("slurm_train.sh"):  # it passes everything to asr train
                parser.parse_args(["train", *words[1:]])
            elif words[0].endswith(".sh"):
                script = words[0].split("recipes/")[-1] if "recipes/" in words[0] else words[0]
                _check_options(script, [w for w in words[1:] if w != "--help"])
                rest = words[words.index("--") + 1:] if "--" in words else []
                if rest:
                    parser.parse_args(["train", *rest])
            else:
                continue
            checked += 1
    assert checked >= 8


def test_getting_started_gives_readmes_two_set_up_commands():
    readme = (REPO / "README.md").read_text()
    page = (DOCS / "getting_started.md").read_text()
    for marker in ("# The main job:", "# The tests:"):
        command = readme.split(marker, 1)[1].split("\n")
        command = next(line for line in command[1:] if line.startswith("python3 -m venv"))
        assert command in page, command
