"""Write Kaldi ark/scp pairs safely: the ark goes to a temp name and is renamed when
complete, and the scp is written last, so a kill never leaves an scp pointing into a
partial ark."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import kaldiio
import numpy as np

from asr.data.kaldi_dir import write_kv


def write_ark_scp(ark: Path, scp: Path, items: Iterable[tuple[str, np.ndarray]],
                  compression_method: int | None = None) -> dict[str, str]:
    """Write (key, matrix) pairs to ``ark`` and ``scp``; return the scp entries.

    ``compression_method`` is kaldiio's (Kaldi's CompressionMethod: 2 = kSpeechFeature)."""
    ark = Path(ark).resolve()
    ark.parent.mkdir(parents=True, exist_ok=True)
    tmp = ark.with_name(ark.name + ".partial")
    entries: dict[str, str] = {}
    with open(tmp, "wb") as f:
        for key, mat in items:
            start = f.tell()
            kaldiio.save_ark(f, {key: mat}, compression_method=compression_method)
            # the scp offset points past "<key> " to the binary matrix header
            entries[key] = f"{ark}:{start + len(key.encode()) + 1}"
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, ark)
    write_kv(scp, entries)
    return entries
