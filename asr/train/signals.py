"""Preemption: SIGTERM and SIGUSR1 only set a flag; the loop acts on it at a step boundary.

A handler that saved from inside the signal would race the optimizer step it interrupted.
The loop checks :func:`requested` between steps, saves a checkpoint and exits with
:data:`REQUEUE_EXIT_CODE` so a job script can tell "requeue me" from success or failure.
"""

from __future__ import annotations

import logging
import signal

log = logging.getLogger(__name__)

REQUEUE_EXIT_CODE = 75  # EX_TEMPFAIL (sysexits.h): "temporary failure, run me again"
SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

_received: list[int] = []
_previous: dict[int, object] = {}


def _handler(signum: int, frame: object) -> None:
    _received.append(signum)


def install() -> None:
    """Route SIGTERM and SIGUSR1 to the flag (main thread only, as Python requires)."""
    _received.clear()
    for sig in SIGNALS:
        _previous[sig] = signal.signal(sig, _handler)


def uninstall() -> None:
    """Put back the handlers that were there before :func:`install`."""
    for sig, handler in _previous.items():
        signal.signal(sig, handler)
    _previous.clear()


def requested() -> bool:
    return bool(_received)


def describe() -> str:
    return ", ".join(signal.Signals(s).name for s in _received) or "none"


class Preempted(Exception):
    """Raised at a step boundary once a preemption signal has been received."""
