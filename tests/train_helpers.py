"""Shared by the training-resilience tests: a tiny corpus, `asr train` in a subprocess,
and readers of what a run consumed and produced."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import torch

from asr.testing import make_train_corpus
from asr.train import checkpoint as ckpt

OVERRIDES = ["model.frontend.type=conv2d", "model.frontend.channels=8",
             "model.encoder.num_layers=2", "model.encoder.hidden_size=96",
             "data.max_frames=600", "train.num_threads=1", "train.epochs=3",
             "scheduler.warmup_steps=4", "train.log_batches=true", "train.average_last=2",
             "train.save_every_steps=1", "data.num_workers=0", "train.device=cpu"]


def make_corpus(root: Path) -> Path:
    """24 train and 6 dev synthetic utterances with features, CMVN stats and a char lang."""
    make_train_corpus(root, 24, 6)
    (root / "train.yaml").write_text("train:\n  seed: 3\n")
    return root


def train_cmd(corpus: Path, exp: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "asr", "train", "--config", str(corpus / "train.yaml"),
            "--exp-dir", str(exp), "--train-dir", str(corpus / "train"),
            "--dev-dir", str(corpus / "dev"), "--lang-dir", str(corpus / "lang"),
            *OVERRIDES, *extra]


FAULT_INJECTION = Path(__file__).with_name("fault_injection.py")


def faulty(cmd: list[str], fault: str) -> list[str]:
    """``cmd`` (an ``asr`` command as from :func:`train_cmd`) with ``fault`` injected at an
    exact point (see tests/fault_injection.py)."""
    assert cmd[1:3] == ["-m", "asr"]
    return [cmd[0], str(FAULT_INJECTION), fault, "--", *cmd[3:]]


def start(cmd: list[str], exp: Path) -> subprocess.Popen:
    exp.mkdir(parents=True, exist_ok=True)
    out = open(exp / "stdout.txt", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)


def finish(cmd: list[str], exp: Path, timeout: float = 300) -> int:
    p = start(cmd, exp)
    return p.wait(timeout)


def consumed(exp: Path, rank: int | None = None) -> list[tuple[int, int, str]]:
    """(epoch, batch, utt ids) per line of the batch log, in the order written."""
    name = "batches.txt" if rank is None else f"batches.rank{rank}.txt"
    path = exp / "log" / name
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        epoch, batch, utts = line.split(" ", 2)
        rows.append((int(epoch), int(batch), utts))
    return rows


def committed(exp: Path, rank: int | None = None) -> list[tuple[int, int, str]]:
    """The consumed sequence once re-run batches are folded: a batch run again after a
    resume must hold the same utterances as the first time."""
    seen: dict[tuple[int, int], str] = {}
    for epoch, batch, utts in consumed(exp, rank):
        assert seen.setdefault((epoch, batch), utts) == utts, (epoch, batch)
    return [(e, b, seen[e, b]) for e, b in sorted(seen)]


def assert_same_model(a: Path, b: Path) -> None:
    for name in ("checkpoints/epoch-3.pt", "final.pt"):
        pa, pb = (ckpt.load_checkpoint(x / name)["model"] for x in (a, b))
        assert pa.keys() == pb.keys()
        for k in pa:
            assert torch.equal(pa[k], pb[k]), f"{name}: {k} differs"


def wait_for(cond, proc: subprocess.Popen, timeout: float = 120, poll: float = 0.0005) -> None:
    end = time.time() + timeout
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"training exited with {proc.returncode} before the "
                                 "moment the test waited for")
        if time.time() > end:
            raise AssertionError("timed out")
        time.sleep(poll)
