"""Kaldi/NIST CTM files: one word per line, ``utt channel start duration word [conf]``.

Times are seconds from the start of the utterance (Kaldi's ``lattice-to-ctm-conf`` without
segments), written with two decimals (10 ms, the feature shift) as Kaldi does; the
confidence, when given, in [0, 1] with three decimals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from asr.atomic_io import atomic_write_text
from asr.errors import DataError


@dataclass(frozen=True)
class CtmWord:
    """One word of an utterance: start and end in seconds, confidence in [0, 1] or None."""

    word: str
    start: float
    end: float
    conf: float | None = None


def format_ctm(utts: Mapping[str, list[CtmWord]]) -> str:
    """The CTM lines of ``utts`` (utterance -> its words in time order), channel 1."""
    lines = []
    for utt, words in utts.items():
        for w in words:
            line = f"{utt} 1 {w.start:.2f} {max(0.0, w.end - w.start):.2f} {w.word}"
            lines.append(line if w.conf is None else f"{line} {w.conf:.3f}")
    return "".join(f"{line}\n" for line in lines)


def write_ctm(path: Path, utts: Mapping[str, list[CtmWord]]) -> None:
    """Write ``utts`` to ``path`` atomically (a crash leaves the old file or none)."""
    atomic_write_text(Path(path), format_ctm(utts))


def read_ctm(path: Path) -> dict[str, list[CtmWord]]:
    """Utterance -> its words, sorted by start time; a malformed line is an error that
    names the file and line."""
    out: dict[str, list[CtmWord]] = {}
    try:
        lines: Iterable[str] = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError(f"{path}: CTM file not found") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a CTM file: not valid UTF-8 ({e.reason} at byte "
                        f"{e.start})") from None
    for n, line in enumerate(lines, start=1):
        f = line.split()
        if not f or f[0].startswith(";;"):
            continue
        try:
            if len(f) not in (5, 6):
                raise ValueError(f"{len(f)} fields, want 5 or 6")
            start, dur = float(f[2]), float(f[3])
            conf = float(f[5]) if len(f) == 6 else None
            if not (math.isfinite(start) and math.isfinite(dur)) or dur < 0:
                raise ValueError("start and duration must be finite, duration >= 0")
        except ValueError as e:
            raise DataError(f"{path}:{n}: not a CTM line ('utt channel start dur word "
                            f"[conf]'): {e}: {line!r}") from None
        out.setdefault(f[0], []).append(CtmWord(f[4], start, start + dur, conf))
    for words in out.values():
        words.sort(key=lambda w: w.start)
    return out
