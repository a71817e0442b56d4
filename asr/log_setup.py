"""Logging for every subcommand: Kaldi-like one-line records to stderr and a log file."""

from __future__ import annotations

import logging
from pathlib import Path


class _DirMakingFileHandler(logging.FileHandler):
    """A FileHandler that makes the file's dir when it first opens the file."""

    def _open(self):
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def setup_logging(log_file: Path | None = None, level: int = logging.INFO,
                  file_mode: str = "a") -> None:
    """Log to stderr (and ``log_file``, appended to, or with ``file_mode`` "w" begun anew)
    in Kaldi-like one-line format."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        # delay: the file (and its dir) appear with the first record, so a command refused
        # before it logs anything leaves no output behind
        handlers.append(_DirMakingFileHandler(log_file, mode=file_mode, encoding="utf-8",
                                              delay=True))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s [%(name)s] %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        handlers=handlers,
        force=True,
    )
