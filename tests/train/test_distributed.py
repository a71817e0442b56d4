"""DDP on CPU (gloo) under torchrun, a dead rank restarted by torchrun, and the SLURM
script's preemption path with stand-ins for srun, scancel and scontrol."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from train_helpers import OVERRIDES, assert_same_model, committed, consumed, start, wait_for

pytestmark = pytest.mark.slow  # every test here trains a model or runs a recipe

REPO = Path(__file__).resolve().parents[2]
TORCHRUN = REPO / "scripts" / "torchrun_train.sh"
SLURM = REPO / "scripts" / "slurm_train.sh"


def train_args(corpus: Path, exp: Path, data: Path | None = None) -> list[str]:
    """Training on ``corpus``; on its shard dirs ``data``/{train,dev} when given."""
    data = data or corpus
    return ["--config", str(corpus / "train.yaml"), "--exp-dir", str(exp),
            "--train-dir", str(data / "train"), "--dev-dir", str(data / "dev"),
            "--lang-dir", str(corpus / "lang"), *OVERRIDES,
            *(["data.source=lhotse_shar", "data.buffer_shards=2"] if data != corpus else [])]


def torchrun(corpus: Path, exp: Path, restarts: int, data: Path | None = None) -> list[str]:
    return [str(TORCHRUN), "--nproc-per-node", "2", "--max-restarts", str(restarts), "--",
            *train_args(corpus, exp, data)]


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def rank_pid(torchrun_pid: int, rank: int) -> int | None:
    for pid in children(torchrun_pid):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in env:
            return pid
    return None


def kill_rank_1_and_compare(corpus: Path, exp: Path, baseline: Path, after: int,
                            data: Path | None = None) -> None:
    """Train ``exp`` under torchrun, SIGKILL rank 1 once it committed ``after`` batches,
    and check the restarted run ends as ``baseline``: same batches, same parameters."""
    p = start(torchrun(corpus, exp, 1, data), exp)
    wait_for(lambda: len(committed(exp, 1)) >= after, p)
    victim = rank_pid(p.pid, 1)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    assert p.wait(300) == 0, (exp / "stdout.txt").read_text()
    assert "resumed from" in (exp / "log" / "train.log").read_text()
    for rank in (0, 1):
        assert committed(exp, rank) == committed(baseline, rank)
    assert_same_model(baseline, exp)


@pytest.fixture(scope="module")
def ddp_baseline(corpus, tmp_path_factory) -> Path:
    exp = tmp_path_factory.mktemp("ddp") / "exp"
    p = start(torchrun(corpus, exp, 0), exp)
    assert p.wait(300) == 0, (exp / "stdout.txt").read_text()
    return exp


def test_two_rank_gloo_ddp_trains_with_identical_ranks(ddp_baseline):
    log = (ddp_baseline / "log" / "train.log").read_text()
    assert log.count("parameters identical on all 2 ranks") == 3  # checked every epoch
    r0, r1 = committed(ddp_baseline, 0), committed(ddp_baseline, 1)
    assert len(r0) == len(r1) > 0  # the same number of steps on each rank
    for (e0, b0, u0), (e1, b1, u1) in zip(r0, r1, strict=True):
        assert (e0, b0) == (e1, b1) and not set(u0.split()) & set(u1.split())
    assert (ddp_baseline / "final.pt").is_file()


def test_killing_one_rank_restarts_and_resumes_bit_exactly(corpus, ddp_baseline,
                                                           tmp_path):
    kill_rank_1_and_compare(corpus, tmp_path / "exp", ddp_baseline, after=3)


def test_two_ranks_on_shards_killed_and_restarted_end_bit_identical(corpus, tmp_path):
    """Each rank reads its own shards (2 of 8 per buffer); rank 1 killed -9 mid-epoch,
    torchrun restarts both, and they end with the parameters and batches of a run never
    interrupted."""
    from asr.data.shar_write import write_shards

    data = tmp_path / "shards"
    for name in ("train", "dev"):
        write_shards(corpus / name, data / name, shard_size=3)
    base, exp = tmp_path / "base", tmp_path / "exp"
    p = start(torchrun(corpus, base, 0, data), base)
    assert p.wait(300) == 0, (base / "stdout.txt").read_text()
    r0, r1 = committed(base, 0), committed(base, 1)
    assert len(r0) == len(r1) > 0
    assert all(not set(a[2].split()) & set(b[2].split()) for a, b in zip(r0, r1, strict=True))
    kill_rank_1_and_compare(corpus, exp, base, after=2, data=data)


def test_slurm_script_checkpoints_and_requeues_on_the_warning_signal(corpus,
                                                                     tmp_path):
    stubs = tmp_path / "bin"
    stubs.mkdir()
    calls = tmp_path / "calls.txt"
    step_pid = tmp_path / "step.pid"  # the job step this test started, and only it
    (stubs / "srun").write_text(  # drop srun's own options, run the task here; exec keeps
        # this PID through torchrun_train.sh's own exec, so it is torchrun's
        f'#!/usr/bin/env bash\necho $$ > {step_pid}\n'
        'while [[ "$1" == --* ]]; do shift; done\nexec "$@"\n')
    (stubs / "scancel").write_text(  # scancel --signal=TERM JOB: signal the job step
        f'#!/usr/bin/env bash\necho "scancel $*" >> {calls}\nkill -TERM "$(cat {step_pid})"\n')
    (stubs / "scontrol").write_text(
        f'#!/usr/bin/env bash\necho "scontrol $*" >> {calls}\n'
        '[ "$1" = show ] && echo localhost\ntrue\n')
    for s in stubs.iterdir():
        s.chmod(0o755)
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "SLURM_JOB_ID": "4242",
           "SLURM_JOB_NODELIST": "localhost", "SLURM_JOB_NUM_NODES": "1",
           "SLURM_SUBMIT_DIR": str(REPO)}
    exp = tmp_path / "exp"
    exp.mkdir()
    cmd = ["bash", str(SLURM), *train_args(corpus, exp)]
    with open(exp / "stdout.txt", "ab") as out:
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        wait_for(lambda: len(consumed(exp)) >= 5, p)
        p.send_signal(signal.SIGUSR1)
        assert p.wait(120) == 0, (exp / "stdout.txt").read_text()
    log = calls.read_text()
    assert "scancel --signal=TERM 4242" in log and "scontrol requeue 4242" in log
    assert "preempted (SIGTERM)" in (exp / "log" / "train.log").read_text()
    assert not (exp / "final.pt").exists()
    # the requeued job runs the same script again and finishes from the checkpoint
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    assert (exp / "final.pt").is_file()
    assert "resumed from" in (exp / "log" / "train.log").read_text()


STUCK_RANK = """
import sys, time
from asr.train.distributed import init_from_env
dist = init_from_env("cpu", timeout_s=float(sys.argv[1]))
if dist.rank == 1:
    time.sleep(600)  # stuck: never reaches the all-reduce rank 0 waits in
dist.or_over_ranks(True)
"""


def test_a_stuck_rank_ends_the_job_within_the_collective_timeout(tmp_path):
    """Rank 1 never joins rank 0's all-reduce: rank 0 fails with an error naming the
    setting once train.collective_timeout_s passes, and torchrun ends the job non-zero."""
    script = tmp_path / "stuck_rank.py"
    script.write_text(STUCK_RANK)
    timeout_s, margin_s = 3, 40  # margin: two interpreters importing torch on a busy machine
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           "2", "--max-restarts", "0", str(script), str(timeout_s)]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        out, _ = p.communicate(timeout=timeout_s + margin_s)
    finally:
        if p.poll() is None:  # only the launcher this test started (it stops its ranks)
            p.kill()
            p.wait()
    assert p.returncode != 0
    assert time.monotonic() - t0 < timeout_s + margin_s
    assert ("rank 0 of 2: the all_reduce collective failed within "
            f"train.collective_timeout_s={timeout_s}") in out.decode(errors="replace")
