"""Training from shard dirs (data.source: lhotse_shar): bit-identical to the data dirs
with one shuffle buffer, and a kill -9 mid-epoch resumed with DataLoader workers ends
where an uninterrupted run does."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from train_helpers import assert_same_model, committed, consumed, faulty, finish, train_cmd

from asr.data.shar_write import write_shards

pytestmark = pytest.mark.slow  # every test here trains a model


@pytest.fixture(scope="module")
def shards(corpus, tmp_path_factory) -> Path:
    """``corpus`` with its train and dev dirs also written as shards of 3 utterances."""
    root = tmp_path_factory.mktemp("shards")
    for name in ("train", "dev"):
        write_shards(corpus / name, root / name, shard_size=3)
    return root


def shard_cmd(corpus: Path, shards: Path, exp: Path, *extra: str) -> list[str]:
    dirs = {str(corpus / n): str(shards / n) for n in ("train", "dev")}
    return [dirs.get(a, a) for a in train_cmd(corpus, exp, "data.source=lhotse_shar", *extra)]


def test_one_buffer_of_every_shard_trains_as_the_data_dirs(corpus, baseline, shards, tmp_path):
    exp = tmp_path / "exp"
    assert finish(shard_cmd(corpus, shards, exp, "data.buffer_shards=8"), exp) == 0, \
        (exp / "stdout.txt").read_text()
    assert committed(exp) == committed(baseline)
    assert_same_model(baseline, exp)


def test_kill_9_mid_epoch_resumes_bit_exactly_with_workers(corpus, shards, tmp_path):
    extra = ("data.buffer_shards=2", "data.num_workers=2")
    base, killed = tmp_path / "base", tmp_path / "killed"
    assert finish(shard_cmd(corpus, shards, base, *extra), base) == 0, \
        (base / "stdout.txt").read_text()
    for fault in ("kill-after-step=3", "kill-after-step=4"):  # 3 of 6 steps: mid-buffer
        assert finish(faulty(shard_cmd(corpus, shards, killed, *extra), fault),
                      killed) == -signal.SIGKILL, fault
    assert len(committed(killed)) < len(committed(base))
    assert finish(shard_cmd(corpus, shards, killed, *extra), killed) == 0, \
        (killed / "stdout.txt").read_text()
    assert "resumed from" in (killed / "log" / "train.log").read_text()
    assert committed(killed) == committed(base)
    assert len(consumed(killed)) >= len(committed(killed))
    assert_same_model(base, killed)
