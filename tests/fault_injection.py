"""Run ``asr`` with a fault injected at an exact point, so kill and signal tests are
deterministic instead of racing a timer.

    python tests/fault_injection.py FAULT -- train --config ...

FAULT is one of
- ``kill-after-step=N``: SIGKILL this process right after the N-th optimizer step call
  returns (before that step's checkpoint is saved);
- ``kill-in-save=N``: SIGKILL inside the N-th checkpoint save, after its temp file is
  written and before the rename that commits it;
- ``signal-after-step=N:SIG``: send SIG (USR1, TERM) to this process after the N-th step,
  as a scheduler would.

Only this process is ever signalled (``os.getpid()``): nothing is found by name.
"""

from __future__ import annotations

import os
import signal
import sys


def _after_nth_step(n: int, action) -> None:
    from asr.train.loop import Trainer

    real = Trainer.train_step
    calls = 0

    def train_step(self, group):
        nonlocal calls
        out = real(self, group)
        calls += 1
        if calls == n:
            action()
        return out

    Trainer.train_step = train_step


def _kill_in_nth_save(n: int) -> None:
    from asr.exp import checkpoint_file

    real = checkpoint_file.atomic_write
    calls = 0

    def atomic_write(path, write):
        nonlocal calls
        calls += 1

        def write_then_die(f):
            write(f)
            if calls == n:
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)

        real(path, write_then_die)

    checkpoint_file.atomic_write = atomic_write


def install(fault: str) -> None:
    name, _, arg = fault.partition("=")
    if name == "kill-after-step":
        _after_nth_step(int(arg), lambda: os.kill(os.getpid(), signal.SIGKILL))
    elif name == "kill-in-save":
        _kill_in_nth_save(int(arg))
    elif name == "signal-after-step":
        n, sig = arg.split(":")
        _after_nth_step(int(n), lambda: os.kill(os.getpid(), getattr(signal, f"SIG{sig}")))
    else:
        raise SystemExit(f"unknown fault '{fault}'")


if __name__ == "__main__":
    fault, sep, *argv = sys.argv[1:]
    assert sep == "--", "usage: fault_injection.py FAULT -- ASR_ARGS..."
    install(fault)
    from asr.cli import main

    sys.exit(main(argv))
