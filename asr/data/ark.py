"""Kaldi ark/scp matrices: checked random-access reads, and safe writes.

Reads name the utterance and ``ark:offset`` on any failure. Writes put the ark under a
temp name, rename it when complete and write the scp last, so a kill never leaves an scp
pointing into a partial ark.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import kaldiio
import numpy as np

from asr.data.kaldi_dir import is_pipe, write_kv
from asr.errors import DataError, refuse_optimized


def write_ark_scp(ark: Path, scp: Path, items: Iterable[tuple[str, np.ndarray]],
                  compression_method: int | None = None) -> dict[str, str]:
    """Write (key, matrix) pairs to ``ark`` and ``scp``; return the scp entries.

    ``compression_method`` is kaldiio's (Kaldi's CompressionMethod: 2 = kSpeechFeature)."""
    ark = Path(ark).resolve()
    ark.parent.mkdir(parents=True, exist_ok=True)
    tmp = ark.with_name(ark.name + ".partial")
    entries: dict[str, str] = {}
    try:
        with open(tmp, "wb") as f:
            for key, mat in items:
                start = f.tell()
                kaldiio.save_ark(f, {key: mat}, compression_method=compression_method)
                # the scp offset points past "<key> " to the binary matrix header
                entries[key] = f"{ark}:{start + len(key.encode()) + 1}"
            f.flush()
            os.fsync(f.fileno())
    except BaseException:  # an unfinished ark is never resumed from: leave none behind
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, ark)
    write_kv(scp, entries)
    return entries


def _past_end(rxfilename: str) -> str:
    """Why a read failed when the offset lies past the end of the ark, else ''."""
    path, _, offset = rxfilename.rpartition(":")
    if not path or not offset.isdigit():
        return ""
    try:
        size = os.path.getsize(path)
    except OSError:
        return ""
    if int(offset) < size:
        return ""
    return (f"offset {offset} is past the end of the file ({size} bytes); the ark is "
            "truncated or the scp is stale")


_FM_HEADER = struct.Struct("<2s3sbibi")  # "\0B", "FM ", 4, rows, 4, cols


def _read_float_matrix(fileno: int, offset: int) -> np.ndarray | None:
    """The common case, a binary float32 matrix ("FM"), read with two positioned reads
    (pread: no seek, no Python buffering). kaldiio parses headers byte by byte, which makes
    its random access about 2x slower. Returns None for any other type (compressed,
    double, ascii), which kaldiio then reads."""
    header = os.pread(fileno, _FM_HEADER.size, offset)
    if len(header) < _FM_HEADER.size:
        return None
    binary, kind, size1, rows, size2, cols = _FM_HEADER.unpack(header)
    if binary != b"\0B" or kind != b"FM " or size1 != 4 or size2 != 4 or rows < 0 or cols < 0:
        return None
    buf = bytearray(rows * cols * 4)  # writable, so torch.from_numpy needs no copy
    if os.preadv(fileno, [buf], offset + _FM_HEADER.size) != len(buf):
        raise ValueError(f"ark ends inside the {rows} x {cols} matrix")
    return np.frombuffer(buf, dtype="<f4").reshape(rows, cols)


def _load(rxfilename: str, fds: dict[str, IO[bytes]] | None) -> np.ndarray:
    path, _, offset = rxfilename.rpartition(":")
    if path and offset.isdigit() and not is_pipe(path):
        if fds is None:
            with open(path, "rb") as fd:
                mat = _read_float_matrix(fd.fileno(), int(offset))
        else:
            fd = fds.get(path)
            if fd is None:
                fd = fds[path] = open(path, "rb")  # noqa: SIM115 (closed with the process)
            mat = _read_float_matrix(fd.fileno(), int(offset))
        if mat is not None:
            return mat
    return np.asarray(kaldiio.load_mat(rxfilename, fd_dict=fds))


def read_matrix(utt_id: str, rxfilename: str, fds: dict[str, IO[bytes]] | None = None
                ) -> np.ndarray:
    """Read one feature matrix, checked: 2-D, non-empty, finite. ``fds`` caches open files.

    Every failure (truncated or corrupt ark, offset past the end, NaN/inf, a vector or an
    empty matrix) is a DataError naming the utterance and ``ark:offset``.
    """
    refuse_optimized()
    try:
        mat = _load(rxfilename, fds)
    except Exception as e:  # kaldiio raises assert, reshape, struct and value errors
        why = _past_end(rxfilename) or f"cannot be read (truncated or corrupt ark?): " \
            f"{type(e).__name__}: {e}"
        raise DataError(f"utterance '{utt_id}': features at '{rxfilename}': {why}") from None
    if mat.ndim != 2 or mat.shape[0] == 0 or mat.shape[1] == 0:
        raise DataError(f"utterance '{utt_id}': features at '{rxfilename}' have shape "
                        f"{mat.shape}; expected (frames > 0, dim > 0)")
    if not np.isfinite(mat).all():
        raise DataError(f"utterance '{utt_id}': features at '{rxfilename}' contain NaN or inf")
    return mat


class ArkReader:
    """Precomputed features by scp offset, with one open handle per ark file per process.

    The cache is keyed by process id, so DataLoader workers (forked or spawned) each open
    their own handles instead of sharing a file position with the parent.
    """

    def __init__(self) -> None:
        self._pid = -1
        self._fds: dict[str, IO[bytes]] = {}

    def __call__(self, utt_id: str, rxfilename: str) -> np.ndarray:
        """The checked matrix of ``utt_id`` at ``rxfilename`` (see :func:`read_matrix`)."""
        if self._pid != os.getpid():
            self._pid, self._fds = os.getpid(), {}
        return read_matrix(utt_id, rxfilename, self._fds)

    def __getstate__(self) -> dict:
        return {"_pid": -1, "_fds": {}}
