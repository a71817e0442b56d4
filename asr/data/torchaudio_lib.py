"""torchaudio, imported in one place, so a torch/torchaudio build mismatch is one line.

torchaudio's compiled library loads only against the exact torch build it was made for;
any other pair fails inside ``import torchaudio`` with an OSError and a long traceback.
Every module of ours imports torchaudio from here instead.
"""

from __future__ import annotations

import re
from importlib import metadata

from asr.errors import AsrError


class TorchaudioLoadError(AsrError, ImportError):
    """torchaudio is installed but its compiled library does not load against this torch."""


def _installed(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _pinned(dist: str) -> str | None:
    """The exact version asr's own metadata pins ``dist`` to, if asr is installed."""
    try:
        requires = metadata.requires("asr") or []
    except metadata.PackageNotFoundError:
        return None
    for req in requires:
        m = re.fullmatch(rf"{dist}\s*==\s*([\w.+]+)", req.split(";")[0].strip())
        if m:
            return m.group(1)
    return None


def load_error_message(error: BaseException) -> str:
    """One line: what failed, the installed versions and the command that fixes it."""
    detail = " ".join(str(e) for e in (error, error.__cause__) if e is not None)
    symbol = re.search(r"undefined symbol: \S+", detail)
    pins = [f"{d}=={_pinned(d)}" for d in ("torch", "torchaudio") if _pinned(d)]
    fix = f"pip install {' '.join(pins)}" if len(pins) == 2 else \
        "install the torchaudio release built for this torch"
    return (f"torchaudio {_installed('torchaudio')} cannot load its compiled library against "
            f"torch {_installed('torch')} ({symbol.group(0) if symbol else detail[:160]}); "
            f"the two must be a matched pair: {fix}")


try:
    import torchaudio
    import torchaudio.compliance.kaldi as kaldi
except OSError as e:
    raise TorchaudioLoadError(load_error_message(e)) from None

__all__ = ["TorchaudioLoadError", "kaldi", "load_error_message", "torchaudio"]
