"""Training that survives clusters: kill -9 anywhere, preemption signals, NaN steps.

Runs `asr train` in subprocesses on a tiny synthetic corpus, interrupts it the hard
way, lets it resume on its own, and checks the result is bit-identical to a run that
was never interrupted: same parameters, same sequence of consumed utterances.
"""

from __future__ import annotations

import functools
import io
import os
import signal
from pathlib import Path

import pytest
import torch
from train_helpers import (
    OVERRIDES,
    assert_same_model,
    committed,
    consumed,
    faulty,
    finish,
    train_cmd,
)

from asr.config import load_config
from asr.config.schema import ExperimentConfig
from asr.errors import AsrError
from asr.exp import checkpoint_file
from asr.train import checkpoint as ckpt
from asr.train.distributed import Dist
from asr.train.runner import build_trainer
from asr.train.signals import REQUEUE_EXIT_CODE

pytestmark = pytest.mark.slow  # every test here trains a model or runs a recipe


def test_same_seed_gives_bit_identical_parameters(corpus, baseline, tmp_path):
    exp = tmp_path / "again"
    assert finish(train_cmd(corpus, exp), exp) == 0
    assert_same_model(baseline, exp)
    assert committed(exp) == committed(baseline) == [tuple(r) for r in consumed(baseline)]


# (fault, whether it leaves a temp file): step counts restart in each resumed process
FAULTS = [("kill-after-step=3", False), ("kill-in-save=2", True), ("kill-after-step=5", False),
          ("kill-in-save=4", True), ("kill-in-save=1", True)]


def test_kill_9_after_steps_and_inside_saves_then_resume_is_bit_exact(corpus, baseline,
                                                                     tmp_path):
    exp = tmp_path / "killed"
    ckpt_dir = exp / "checkpoints"
    for fault, in_save in FAULTS:
        assert finish(faulty(train_cmd(corpus, exp), fault), exp) == -signal.SIGKILL, fault
        assert any(ckpt_dir.glob(".*.tmp")) == in_save, fault
        newest = ckpt.latest_valid(ckpt_dir)
        assert newest is not None and "model" in newest[1]
    assert len(committed(exp)) < len(committed(baseline))  # the kills all landed in training
    assert finish(train_cmd(corpus, exp), exp) == 0, (exp / "stdout.txt").read_text()
    assert not list(ckpt_dir.glob(".*.tmp"))  # leftovers of killed saves are cleaned up
    assert committed(exp) == committed(baseline)
    assert len(consumed(exp)) > len(committed(exp))  # steps after each last save ran twice
    assert_same_model(baseline, exp)


def test_sigusr1_saves_at_a_step_boundary_and_exits_for_requeue(corpus, baseline, tmp_path):
    exp = tmp_path / "usr1"
    cmd = train_cmd(corpus, exp, "train.save_every_steps=0")
    # a signal after step 3 is agreed on in step 4's all-reduce: save after step 4, then exit
    assert finish(faulty(cmd, "signal-after-step=3:USR1"), exp) == REQUEUE_EXIT_CODE
    found = ckpt.latest_valid(exp / "checkpoints")
    assert found is not None and found[0].name == "checkpoint-4.pt"
    state = found[1]["train_state"]
    done = committed(exp)
    assert (state["epoch"], state["batches_done"]) == (done[-1][0], done[-1][1] + 1)
    assert state["step"] == len(done) == 4  # one optimizer step per batch, none half-taken
    assert finish(cmd, exp) == 0
    assert committed(exp) == committed(baseline)
    assert_same_model(baseline, exp)


def test_resume_with_on_the_fly_augmentation_is_bit_exact(corpus, tmp_path):
    """Noise, volume and VTLP drawn per (seed, epoch, utterance): a run killed mid-epoch
    and resumed with 2 DataLoader workers ends where one uninterrupted run without workers
    does."""
    import numpy as np
    import soundfile

    for i, seconds in enumerate((2.0, 0.3)):  # the short one is looped
        (tmp_path / "noise" / f"n{i}").mkdir(parents=True)
        soundfile.write(tmp_path / "noise" / f"n{i}" / "n.wav", np.random.default_rng(i)
                        .normal(0, 300, int(8000 * seconds)).astype(np.int16), 8000)
    aug = ["data.features=on_the_fly", "data.augment.noise.prob=0.8",
           f"data.augment.noise.source={tmp_path / 'noise'}", "data.augment.noise.snr_db=[5,20]",
           "data.augment.volume.prob=0.5", "data.augment.vtlp.prob=0.5"]
    base, killed = tmp_path / "base", tmp_path / "killed"
    assert finish(train_cmd(corpus, base, *aug), base) == 0, (base / "stdout.txt").read_text()
    workers = [*aug, "data.num_workers=2"]
    assert finish(faulty(train_cmd(corpus, killed, *workers), "kill-after-step=3"),
                  killed) == -signal.SIGKILL
    assert finish(train_cmd(corpus, killed, *workers), killed) == 0, \
        (killed / "stdout.txt").read_text()
    assert committed(killed) == committed(base)
    assert_same_model(base, killed)


def _save_killed_at(path: Path, payload: dict, cut: int | str) -> None:
    """In a forked child: save ``payload`` and SIGKILL itself once ``cut`` bytes of the
    temp file are written, or at 'before-rename' / 'after-rename'."""
    import asr.atomic_io as atomic_io

    die = functools.partial(os.kill, os.getpid(), signal.SIGKILL)
    real_replace = atomic_io.os.replace

    def replace(src, dst):
        if cut == "before-rename":
            die()
        real_replace(src, dst)
        if cut == "after-rename":
            die()

    atomic_io.os.replace = replace
    real_atomic = checkpoint_file.atomic_write

    def atomic_write(p, write):
        class Cut(io.RawIOBase):  # a file that dies at byte ``cut``
            def __init__(self, f):
                self.f, self.n = f, 0

            def writable(self):
                return True

            def write(self, b):
                if isinstance(cut, int) and self.n + len(b) >= cut:
                    self.f.write(bytes(b)[:cut - self.n])
                    self.f.flush()
                    die()
                self.n += len(b)
                return self.f.write(b)

        real_atomic(p, lambda f: write(Cut(f)))

    checkpoint_file.atomic_write = atomic_write
    ckpt.save_checkpoint(path, payload)


def test_a_kill_at_any_byte_of_a_save_leaves_the_previous_checkpoint_loadable(tmp_path):
    def payload(n):
        return {"model": {"w": torch.full((256, 1024), float(n))},
                "train_state": {"epoch": 1, "batches_done": n}}

    ckpt.save_checkpoint(tmp_path / "checkpoint-0.pt", payload(0))
    size = (tmp_path / "checkpoint-0.pt").stat().st_size
    cuts = [0, 1, 64, 4096, size // 2, size - 100, size - 1, "before-rename", "after-rename"]
    for i, cut in enumerate(cuts, start=1):
        pid = os.fork()
        if pid == 0:
            try:
                _save_killed_at(tmp_path / f"checkpoint-{i}.pt", payload(i), cut)
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status), f"cut {cut}: the child was not killed"
        newest = ckpt.latest_valid(tmp_path)
        want = i if cut == "after-rename" else i - 1  # committed only by the rename
        assert newest is not None, f"cut {cut}: no loadable checkpoint"
        assert newest[1]["train_state"]["batches_done"] == want, f"cut {cut}"
        assert torch.equal(newest[1]["model"]["w"], payload(want)["model"]["w"])
        ckpt.remove_temp_files(tmp_path)
        if cut != "after-rename":
            assert not (tmp_path / f"checkpoint-{i}.pt").exists()
            ckpt.save_checkpoint(tmp_path / f"checkpoint-{i}.pt", payload(i))  # the retry


def make_trainer(corpus: Path, exp: Path, *extra: str):
    cfg = load_config(ExperimentConfig, corpus / "train.yaml", [*OVERRIDES, *extra])
    return build_trainer(cfg, exp, corpus / "train", corpus / "dev", corpus / "lang", Dist())


def snapshot(trainer) -> dict[str, torch.Tensor]:
    out = {f"p.{k}": v.detach().clone() for k, v in trainer.core.state_dict().items()}
    for i, s in enumerate(trainer.optimizer.state.values()):
        out.update({f"o{i}.{k}": v.clone() for k, v in s.items() if torch.is_tensor(v)})
    return out


def test_nan_batch_is_skipped_with_parameters_untouched(corpus, tmp_path):
    trainer = make_trainer(corpus, tmp_path / "nan", "train.max_consecutive_skips=3")
    batches = iter(trainer.train_loader)
    trainer.train_step([next(batches)])  # one real step, so the optimizer has state
    before = snapshot(trainer)
    bad = next(batches)
    bad.feats[0, :5] = float("nan")
    out = trainer.train_step([bad])
    assert out.skipped and trainer.state.skipped_steps == 1
    assert trainer.state.step == 1
    after = snapshot(trainer)
    assert all(torch.equal(before[k], after[k]) for k in before)
    trainer.train_step([next(batches)])  # a good batch trains again
    assert trainer.state.step == 2 and trainer.state.consecutive_skips == 0
    assert any(not torch.equal(before[k], v) for k, v in snapshot(trainer).items())


def test_consecutive_nan_steps_abort_with_the_utterance_ids(corpus, tmp_path):
    exp = tmp_path / "abort"
    trainer = make_trainer(corpus, exp, "train.max_consecutive_skips=3")
    trainer.save(exp / "checkpoints" / "checkpoint-0.pt")
    saved = ckpt.load_checkpoint(exp / "checkpoints" / "checkpoint-0.pt")["model"]
    ids = []
    with pytest.raises(AsrError, match=r"3 optimizer steps in a row.*nonfinite_batches\.txt"):
        for batch in trainer.train_loader:
            batch.feats[:] = float("inf")
            ids.append(batch.utt_ids)
            trainer.train_step([batch])
    listed = (exp / "nonfinite_batches.txt").read_text().splitlines()
    assert [line.split(": ")[1].split() for line in listed] == ids
    intact = ckpt.load_checkpoint(exp / "checkpoints" / "checkpoint-0.pt")["model"]
    assert all(torch.equal(saved[k], intact[k]) for k in saved)


def test_average_best_and_last(corpus, baseline, tmp_path):
    from asr.cli import main

    out = tmp_path / "avg.pt"
    assert main(["average", "--exp-dir", str(baseline), "--last", "2", "--out", str(out)]) == 0
    avg = ckpt.load_checkpoint(out)
    assert avg["averaged"] == ["epoch-2.pt", "epoch-3.pt"]
    final = ckpt.load_checkpoint(baseline / "final.pt")["model"]
    assert all(torch.equal(final[k], avg["model"][k]) for k in final)
    best = ckpt.best_epochs(baseline / "checkpoints", 1)[0]
    assert main(["average", "--exp-dir", str(baseline), "--best", "1", "--out", str(out)]) == 0
    assert ckpt.load_checkpoint(out)["averaged"] == [best.path.name]
    assert main(["average", "--exp-dir", str(baseline), "--last", "9"]) == 2


def test_gradient_accumulation_takes_one_step_per_group(corpus, tmp_path):
    trainer = make_trainer(corpus, tmp_path / "accum", "train.accum_grad=2", "train.epochs=1",
                           "train.average_last=1")
    batches = len(trainer.sampler.batches(1))
    trainer.train_one_epoch()
    assert trainer.state.batches_done == batches
    assert trainer.state.step == (batches + 1) // 2


def test_bf16_autocast_trains_on_cpu_and_fp16_needs_cuda(corpus, tmp_path):
    from asr.train.runner import run

    trainer = make_trainer(corpus, tmp_path / "bf16", "train.amp=bf16")
    batch = next(iter(trainer.train_loader))
    before = snapshot(trainer)
    out = trainer.train_step([batch])
    assert not out.skipped and trainer.state.step == 1
    assert any(not torch.equal(before[k], v) for k, v in snapshot(trainer).items())
    cfg = load_config(ExperimentConfig, corpus / "train.yaml",
                      [*OVERRIDES, "train.amp=fp16"])
    with pytest.raises(AsrError, match="fp16 needs a CUDA device"):
        run(cfg, tmp_path / "fp16", corpus / "train", corpus / "dev", corpus / "lang")
