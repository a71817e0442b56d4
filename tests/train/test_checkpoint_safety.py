"""Checkpoints and model files that must not be trusted: pickled code, flipped bytes,
non-finite parameters, files from elsewhere."""

from __future__ import annotations

import os
import shutil
import signal
import zipfile
from pathlib import Path

import pytest
import torch
from train_helpers import assert_same_model, faulty, finish, train_cmd

from asr.cli import main
from asr.errors import CheckpointError
from asr.exp.checkpoint_file import content_digest
from asr.train import checkpoint as ckpt

pytestmark = pytest.mark.slow  # every test here trains a model or runs a recipe


class _Payload:
    """Pickles as a call to os.system: what a crafted model file carries."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def crafted_checkpoint(path: Path, marker: Path, like: Path) -> None:
    """``like``'s contents plus an object whose unpickling runs a shell command."""
    payload = torch.load(like, weights_only=True)
    payload["dev_loss"] = _Payload(marker)
    torch.save(payload, path)


def flip_bytes_in_largest_tensor(path: Path, n: int = 64) -> None:
    """Invert ``n`` bytes in the middle of the largest tensor record of a torch zip file,
    leaving the archive structure intact (as a bad disk or network filesystem would)."""
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    with open(path, "r+b") as f:
        f.seek(info.header_offset)
        header = f.read(30)
        name_len = int.from_bytes(header[26:28], "little")
        extra_len = int.from_bytes(header[28:30], "little")
        start = info.header_offset + 30 + name_len + extra_len + info.file_size // 2
        f.seek(start)
        data = f.read(n)
        f.seek(start)
        f.write(bytes(b ^ 0xFF for b in data))


def test_crafted_model_file_is_refused_by_decode_and_runs_nothing(corpus, baseline, tmp_path,
                                                                  capsys):
    marker = tmp_path / "pwned"
    evil = tmp_path / "model.pt"
    crafted_checkpoint(evil, marker, baseline / "final.pt")
    rc = main(["decode", "--exp-dir", str(baseline), "--data-dir", str(corpus / "dev"),
               "--out", str(tmp_path / "dec"), "--checkpoint", str(evil)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and not marker.exists()
    assert err.count("\n") == 0 and "refused" in err and "posix.system" in err and str(evil) in err


def test_crafted_newest_checkpoint_is_skipped_by_resume_and_runs_nothing(corpus, baseline,
                                                                         tmp_path):
    exp = tmp_path / "exp"
    marker = tmp_path / "pwned"
    assert finish(faulty(train_cmd(corpus, exp), "kill-after-step=6"), exp) == -signal.SIGKILL
    newest = ckpt.infos_by_progress(exp / "checkpoints")[-1].path
    crafted_checkpoint(exp / "checkpoints" / "checkpoint-999.pt", marker, newest)
    assert finish(train_cmd(corpus, exp), exp) == 0
    log = (exp / "log" / "train.log").read_text()
    assert "skipping checkpoint " + str(exp / "checkpoints" / "checkpoint-999.pt") + \
        ": refused: it holds pickled Python objects" in log
    assert f"resumed from {newest}" in log
    assert not marker.exists()
    assert_same_model(baseline, exp)


def test_flipped_bytes_in_the_newest_checkpoint_fall_back_and_stay_bit_exact(corpus, baseline,
                                                                            tmp_path):
    exp = tmp_path / "exp"
    assert finish(faulty(train_cmd(corpus, exp), "kill-after-step=7"), exp) == -signal.SIGKILL
    previous, newest = (i.path for i in ckpt.infos_by_progress(exp / "checkpoints")[-2:])
    flip_bytes_in_largest_tensor(newest)
    torch.load(newest, weights_only=True)  # the archive still loads: only the digest knows
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        ckpt.load_checkpoint(newest)
    assert finish(train_cmd(corpus, exp), exp) == 0, (exp / "stdout.txt").read_text()
    log = (exp / "log" / "train.log").read_text()
    assert f"skipping checkpoint {newest}: checksum mismatch" in log
    assert f"resumed from {previous}" in log
    assert_same_model(baseline, exp)


def test_non_finite_parameters_make_a_checkpoint_unreadable(tmp_path):
    sd = {"w": torch.ones(3), "b": torch.tensor([0.0, float("nan")])}
    ckpt.save_checkpoint(tmp_path / "checkpoint-1.pt",
                         {"model": sd, "train_state": {"epoch": 1, "batches_done": 1}})
    with pytest.raises(CheckpointError, match=r"not all finite \(b\)"):
        ckpt.load_checkpoint(tmp_path / "checkpoint-1.pt")
    assert ckpt.latest_valid(tmp_path) is None


def test_a_file_without_checksum_decodes_with_a_warning_but_never_resumes(
        corpus, baseline, tmp_path, capsys):
    plain = tmp_path / "plain.pt"
    torch.save({"model": ckpt.load_checkpoint(baseline / "final.pt")["model"]}, plain)
    with pytest.raises(CheckpointError, match="carries no checksum"):
        ckpt.load_checkpoint(plain)
    assert main(["decode", "--exp-dir", str(baseline), "--data-dir", str(corpus / "dev"),
                 "--out", str(tmp_path / "dec"), "--checkpoint", str(plain)]) == 0
    assert f"{plain} carries no checksum: its bytes are not verified" in capsys.readouterr().err
    exp = tmp_path / "exp"
    shutil.copytree(baseline, exp)
    for p in (exp / "checkpoints").iterdir():
        p.unlink()
    shutil.copyfile(plain, exp / "checkpoints" / "checkpoint-1.pt")
    assert ckpt.latest_valid(exp / "checkpoints") is None


def test_content_digest_covers_values_order_and_dtypes_and_refuses_objects():
    base = {"a": torch.arange(4.0), "b": [1, 2.5, "x", None, (True,)]}
    d = content_digest(base)
    assert content_digest({"a": torch.arange(4.0), "b": [1, 2.5, "x", None, (True,)]}) == d
    assert content_digest({**base, "a": torch.arange(4.0).double()}) != d
    assert content_digest({**base, "b": [1, 2.5, "x", None, [True]]}) != d
    assert content_digest({"b": base["b"], "a": base["a"]}) != d
    flipped = torch.arange(4.0)
    flipped.view(torch.int32)[2] ^= 1  # one bit
    assert content_digest({**base, "a": flipped}) != d
    with pytest.raises(TypeError, match="plain Python values"):
        content_digest({"x": object()})


def test_a_training_checkpoint_is_plain_data(baseline):
    """Everything we write loads with weights_only=True, RNG and sampler states included."""
    newest = ckpt.latest_valid(baseline / "checkpoints")
    assert newest is not None
    payload = newest[1]
    assert {"model", "optimizer", "rng", "sampler", "train_state"} <= payload.keys()
    assert torch.is_tensor(payload["rng"][0]["numpy"]["keys"])
