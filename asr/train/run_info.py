"""The ``run:`` section of a resolved config: the data dirs, the command and the code
revision, so an exp dir says how it was made."""

from __future__ import annotations

import subprocess
from pathlib import Path

import asr
from asr.config.schema import RunConfig


def code_revision() -> str:
    """``git`` commit of the checkout asr runs from (``+dirty`` with local changes), else
    ``asr <version>`` for an installed package."""
    root = Path(asr.__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "asr"],
                               check=True, capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"asr {asr.__version__}"
    return head + ("+dirty" if dirty else "")


def run_info(train_dir: Path, dev_dir: Path, lang_dir: Path, command: str) -> RunConfig:
    return RunConfig(str(Path(train_dir).resolve()), str(Path(dev_dir).resolve()),
                     str(Path(lang_dir).resolve()), command, code_revision())
