"""Training that survives clusters: kill -9 anywhere, preemption signals, NaN steps.

Runs `asr train` in subprocesses on a tiny synthetic corpus, interrupts it the hard
way, lets it resume on its own, and checks the result is bit-identical to a run that
was never interrupted: same parameters, same sequence of consumed utterances.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest
import torch
from train_helpers import (
    OVERRIDES,
    assert_same_model,
    committed,
    consumed,
    finish,
    start,
    train_cmd,
    wait_for,
)

from asr.config import load_config
from asr.errors import AsrError
from asr.schema import ExperimentConfig
from asr.train import checkpoint as ckpt
from asr.train.distributed import Dist
from asr.train.runner import build_trainer
from asr.train.signals import REQUEUE_EXIT_CODE


@pytest.fixture(scope="module")
def baseline(corpus, tmp_path_factory) -> Path:
    exp = tmp_path_factory.mktemp("baseline") / "exp"
    assert finish(train_cmd(corpus, exp), exp) == 0, (exp / "stdout.txt").read_text()
    return exp


def test_same_seed_gives_bit_identical_parameters(corpus, baseline, tmp_path):
    exp = tmp_path / "again"
    assert finish(train_cmd(corpus, exp), exp) == 0
    assert_same_model(baseline, exp)
    assert committed(exp) == committed(baseline) == [tuple(r) for r in consumed(baseline)]


def test_kill_9_at_random_steps_and_during_saves_then_resume_is_bit_exact(
        corpus, baseline, tmp_path):
    exp = tmp_path / "killed"
    ckpt_dir = exp / "checkpoints"
    total = len(committed(baseline))
    rng = random.Random(20261122)
    targets = sorted(rng.sample(range(2, total - 2), 5))
    kinds = ["step", "save", "step", "save", "save"]
    killed_in_save = 0
    for target, kind in zip(targets, kinds, strict=True):
        p = start(train_cmd(corpus, exp), exp)
        wait_for(lambda t=target: len(committed(exp)) >= t, p)
        if kind == "save":  # a save is under way once its temp file exists
            wait_for(lambda: any(ckpt_dir.glob(".*.tmp")), p, poll=0.0001)
        p.send_signal(signal.SIGKILL)
        p.wait()
        killed_in_save += any(ckpt_dir.glob(".*.tmp"))
        newest = ckpt.latest_valid(ckpt_dir)
        assert newest is not None and "model" in newest[1]
    assert killed_in_save >= 2, "the kills meant to land inside a save all missed it"
    assert finish(train_cmd(corpus, exp), exp) == 0, (exp / "stdout.txt").read_text()
    assert not list(ckpt_dir.glob(".*.tmp"))  # leftovers of killed saves are cleaned up
    assert committed(exp) == committed(baseline)
    assert len(consumed(exp)) > total  # batches after each last checkpoint did run twice
    assert_same_model(baseline, exp)


def test_sigusr1_saves_at_a_step_boundary_and_exits_for_requeue(corpus, baseline, tmp_path):
    exp = tmp_path / "usr1"
    cmd = train_cmd(corpus, exp, "train.save_every_steps=0")
    p = start(cmd, exp)
    wait_for(lambda: len(consumed(exp)) >= 1, p)
    time.sleep(random.Random(7).uniform(0, 1.5))
    sent = time.time()
    p.send_signal(signal.SIGUSR1)
    assert p.wait(60) == REQUEUE_EXIT_CODE
    assert time.time() - sent < 60
    found = ckpt.latest_valid(exp / "checkpoints")
    assert found is not None
    state = found[1]["train_state"]
    done = committed(exp)
    if found[0].name.startswith("checkpoint-"):  # saved mid-epoch: exactly the batches run
        assert (state["epoch"], state["batches_done"]) == (done[-1][0], done[-1][1] + 1)
    assert state["step"] == len(done)  # one optimizer step per batch, none half-taken
    assert finish(cmd, exp) == 0
    assert committed(exp) == committed(baseline)
    assert_same_model(baseline, exp)


def test_fifty_kills_during_saves_leave_no_unloadable_newest_checkpoint(tmp_path):
    payload = {"model": {"w": torch.randn(512, 1024)}, "train_state": {"epoch": 1,
               "batches_done": 0}, "optimizer": {"m": torch.randn(512, 1024)}}
    rng = random.Random(5)
    landed = 0
    for i in range(50):
        pid = os.fork()
        if pid == 0:  # child: save new checkpoints until killed
            try:
                for k in range(10**6):
                    payload["train_state"] = {"epoch": 1, "batches_done": i * 1000 + k}
                    ckpt.save_checkpoint(tmp_path / f"checkpoint-{i * 1000 + k}.pt", payload)
            finally:
                os._exit(0)
        end = time.time() + 30
        # once a complete checkpoint exists, wait for the next save to be under way
        while not (ckpt.step_checkpoints(tmp_path) and any(tmp_path.glob(".*.tmp"))) \
                and time.time() < end:
            time.sleep(0.0001)
        time.sleep(rng.uniform(0, 0.004))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        landed += any(tmp_path.glob(".*.tmp"))
        newest = ckpt.latest_valid(tmp_path)
        assert newest is not None, f"kill {i}: no loadable checkpoint"
        assert newest[0] == ckpt.step_checkpoints(tmp_path)[-1][1], f"kill {i}"
        assert torch.equal(newest[1]["model"]["w"], payload["model"]["w"])
        ckpt.remove_temp_files(tmp_path)
        ckpt.prune(tmp_path, keep_last=1, keep_best=0, keep_last_steps=2)
    assert landed >= 25, f"only {landed} of 50 kills landed inside a save"


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
    assert out["skipped"] == 1 and trainer.state.skipped_steps == 1
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
    trainer = make_trainer(corpus, tmp_path / "accum", "train.accum_grad=2", "train.epochs=1")
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
    assert out["skipped"] == 0 and trainer.state.step == 1
    assert any(not torch.equal(before[k], v) for k, v in snapshot(trainer).items())
    cfg = load_config(ExperimentConfig, corpus / "train.yaml",
                      [*OVERRIDES, "train.amp=fp16"])
    with pytest.raises(AsrError, match="fp16 needs a CUDA device"):
        run(cfg, tmp_path / "fp16", corpus / "train", corpus / "dev", corpus / "lang")
