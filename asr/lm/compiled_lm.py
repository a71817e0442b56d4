"""Compiled n-gram LMs: the tables of :mod:`asr.lm.ngram_tables` in one memory-mapped file.

Reading and building the tables of a 3M n-gram ARPA file takes seconds to minutes and
gigabytes; the file written here is loaded by mapping it (the pages come from the OS's
page cache on the next decode), so only its checksums cost time. Layout:

    8 bytes  MAGIC
    8 bytes  header length H, little-endian
    H bytes  JSON header: format version, scalars, each array's dtype, shape, offset and
             CRC-32, and the ARPA file it was made from (size, mtime, SHA-256)
    arrays   raw little-endian data, each starting at a multiple of 64 bytes

No pickle anywhere: a file from elsewhere is data, never code. Every index the compiled
search follows is range-checked on load, so even a crafted file cannot make it read
outside its arrays. Next to ``lm.arpa`` the cache is ``lm.asrlm``; it is rebuilt when
the ARPA file changes (size and mtime, else its SHA-256 decides).
"""

from __future__ import annotations

import hashlib
import json
import logging
import mmap
import time
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from asr.atomic_io import atomic_write
from asr.errors import DataError
from asr.functional.fusion_table import NgramTables
from asr.lm.arpa_arrays import read_arpa_arrays
from asr.lm.ngram_tables import build_ngram_tables

log = logging.getLogger(__name__)

MAGIC = b"ASRNGLM\n"
FORMAT_VERSION = 1
SUFFIX = ".asrlm"
ALIGN = 64  # array starts: cache-line aligned, and aligned for every dtype
DTYPES = {"keys": "<i8", "vals": "<i4", "logp": "<f8", "backoff": "<f8", "suffix": "<i4",
          "order": "<i4", "word_keys": "<i8", "word_vals": "<i4"}


def default_compiled_path(arpa: Path) -> Path:
    """Where the cache of ``arpa`` lives: beside it, ``lm.arpa`` -> ``lm.asrlm``."""
    return Path(arpa).with_suffix(SUFFIX)


def is_compiled_lm(path: Path) -> bool:
    """Whether ``path`` starts like a compiled LM (else it is taken for an ARPA file)."""
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def source_stamp(arpa: Path) -> dict:
    """What identifies the ARPA file's content: size, mtime and SHA-256."""
    st = Path(arpa).stat()
    return {"path": str(arpa), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "sha256": _sha256(arpa)}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _is_fresh(stamp: dict, arpa: Path) -> bool:
    """Same size and mtime: fresh; same size, other mtime (a copy, a touch): the SHA-256."""
    st = Path(arpa).stat()
    if stamp.get("size") != st.st_size:
        return False
    return stamp.get("mtime_ns") == st.st_mtime_ns or stamp.get("sha256") == _sha256(arpa)


def write_compiled(path: Path, tables: NgramTables, source: dict | None = None) -> None:
    """Write ``tables`` to ``path`` atomically (a crash leaves the old file or none)."""
    arrays = {name: np.ascontiguousarray(getattr(tables, name), DTYPES[name])
              for name in NgramTables.array_names()}
    specs, offset = {}, 0
    for name, a in arrays.items():
        specs[name] = {"dtype": DTYPES[name], "shape": list(a.shape), "offset": offset,
                       "crc32": zlib.crc32(memoryview(a).cast("B"))}
        offset += -(-a.nbytes // ALIGN) * ALIGN
    header = {"format": "asr n-gram LM", "version": FORMAT_VERSION,
              "scalars": {n: int(getattr(tables, n)) for n in NgramTables.scalar_names()},
              "arrays": specs, "source": source}
    text = json.dumps(header).encode("utf-8")
    start = -(-(len(MAGIC) + 8 + len(text)) // ALIGN) * ALIGN

    def write(f: IO[bytes]) -> None:
        f.write(MAGIC + len(text).to_bytes(8, "little") + text)
        f.write(b"\0" * (start - f.tell()))
        for a in arrays.values():
            f.write(memoryview(a).cast("B"))
            f.write(b"\0" * (-a.nbytes % ALIGN))

    atomic_write(Path(path), write)


def _read_header(path: Path, buf: mmap.mmap) -> tuple[dict, int]:
    if len(buf) < len(MAGIC) + 8 or buf[:len(MAGIC)] != MAGIC:
        raise DataError(f"{path}: not a compiled LM (make one with 'asr compile-lm')")
    n = int.from_bytes(buf[len(MAGIC):len(MAGIC) + 8], "little")
    if len(MAGIC) + 8 + n > len(buf):
        raise DataError(f"{path}: truncated compiled LM (header cut off)")
    try:
        header = json.loads(bytes(buf[len(MAGIC) + 8:len(MAGIC) + 8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DataError(f"{path}: corrupted compiled LM (unreadable header)") from None
    if not isinstance(header, dict) or header.get("version") != FORMAT_VERSION:
        raise DataError(f"{path}: compiled LM of format version "
                        f"{header.get('version') if isinstance(header, dict) else '?'}, "
                        f"this asr reads {FORMAT_VERSION}; recompile it with 'asr compile-lm'")
    return header, -(-(len(MAGIC) + 8 + n) // ALIGN) * ALIGN


def _array(path: Path, buf: mmap.mmap, start: int, name: str, spec: dict,
           verify: bool) -> np.ndarray:
    try:
        dtype, (length,), offset = np.dtype(spec["dtype"]), spec["shape"], spec["offset"]
        ok = spec["dtype"] == DTYPES[name] and isinstance(offset, int) and length >= 0
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise DataError(f"{path}: corrupted compiled LM (bad entry for array '{name}')")
    end = start + offset + length * dtype.itemsize
    if offset < 0 or end > len(buf):
        raise DataError(f"{path}: truncated compiled LM (array '{name}' ends at byte {end}, "
                        f"the file has {len(buf)})")
    a = np.frombuffer(buf, dtype, length, start + offset)
    if verify and zlib.crc32(memoryview(a).cast("B")) != spec.get("crc32"):
        raise DataError(f"{path}: corrupted compiled LM (array '{name}' fails its checksum)")
    return a


def _check_ranges(path: Path, t: NgramTables) -> None:
    """Every index the compiled search follows stays inside its array, and each hash
    table has a free slot (a lookup of an absent key stops there)."""
    m = t.num_nodes
    checks = [
        (len(t.keys) == len(t.vals) and len(t.keys) & (len(t.keys) - 1) == 0, "trie table"),
        (len(t.word_keys) == len(t.word_vals) and len(t.word_keys) & (len(t.word_keys) - 1) == 0,
         "word table"),
        (m >= 1 and len(t.backoff) == m and len(t.suffix) == m and len(t.order) == m, "nodes"),
        (t.max_order >= 1 and 0 <= t.eos_word < t.vocab_size and 0 <= t.bos_state < m,
         "scalars"),
        (len(t.keys) > 0 and int((t.keys == -1).sum()) > 0, "trie table has no free slot"),
        (len(t.word_keys) > 0 and int((t.word_keys == -1).sum()) > 0,
         "word table has no free slot"),
        (m == 0 or (int(t.vals.min(initial=0)) >= -1 and int(t.vals.max(initial=0)) < m),
         "trie links"),
        (int(t.suffix.min(initial=0)) >= 0 and int(t.suffix.max(initial=0)) < m, "suffix links"),
        (int(t.order.min(initial=0)) >= 0 and int(t.order.max(initial=0)) <= t.max_order,
         "orders"),
        (int(t.word_vals.min(initial=0)) >= -1 and int(t.word_vals.max(initial=0)) < t.vocab_size,
         "word ids"),
    ]
    for ok, what in checks:
        if not ok:
            raise DataError(f"{path}: corrupted compiled LM (inconsistent {what})")


def read_compiled(path: Path, verify: bool = True) -> tuple[NgramTables, dict]:
    """The tables of a compiled LM, memory-mapped, and its header. ``verify`` checks
    every array's CRC-32 (a pass over the file at memory speed)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            # copy-on-write: the arrays are writable numpy arrays (the same compiled search
            # as for built tables), pages stay shared with the page cache as nothing writes
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    except FileNotFoundError:
        raise DataError(f"{path}: LM file not found") from None
    except (OSError, ValueError) as e:  # ValueError: an empty file cannot be mapped
        raise DataError(f"{path}: cannot map the compiled LM: {e}") from None
    header, start = _read_header(path, buf)
    specs, scalars = header.get("arrays"), header.get("scalars")
    if not isinstance(specs, dict) or set(specs) != set(DTYPES) or not isinstance(scalars, dict) \
            or set(scalars) != set(NgramTables.scalar_names()) \
            or not all(isinstance(v, int) for v in scalars.values()):
        raise DataError(f"{path}: corrupted compiled LM (arrays or scalars missing)")
    arrays = {n: _array(path, buf, start, n, specs[n], verify) for n in DTYPES}
    tables = NgramTables(**arrays, **scalars)
    _check_ranges(path, tables)
    return tables, header


def compile_arpa(arpa: Path, out: Path) -> NgramTables:
    """Read ``arpa``, build its tables and write them to ``out``; returns the tables."""
    if not Path(arpa).is_file():
        raise DataError(f"{arpa}: LM file not found")
    t0 = time.perf_counter()
    source = source_stamp(arpa)  # before reading: a file changed meanwhile reads as stale
    tables = build_ngram_tables(read_arpa_arrays(arpa))
    write_compiled(out, tables, source)
    log.info("compiled LM %s (%d n-grams) into %s in %.1f s", arpa, tables.num_nodes - 1, out,
             time.perf_counter() - t0)
    return tables


def load_lm(path: Path, cache: Path | None = None) -> NgramTables:
    """The tables of ``path``: a compiled LM is mapped; an ARPA file is compiled into
    ``cache`` (default: beside it) on first use, and that cache mapped on later calls as
    long as the ARPA file is unchanged. An unwritable cache place only costs the reuse."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: LM file not found")
    if is_compiled_lm(path):
        tables = read_compiled(path)[0]
        log.info("LM %s: %d n-grams, memory-mapped", path, tables.num_nodes - 1)
        return tables
    cache = default_compiled_path(path) if cache is None else Path(cache)
    if cache.is_file():
        try:
            tables, header = read_compiled(cache)
            if isinstance(header.get("source"), dict) and _is_fresh(header["source"], path):
                log.info("LM %s: using its compiled tables %s", path, cache)
                return tables
            log.info("LM %s changed since %s was compiled: compiling it again", path, cache)
        except DataError as e:
            log.warning("%s; compiling it again", e)
    log.info("LM %s: compiling it into %s (once: later decodes map the compiled file)",
             path, cache)
    source = source_stamp(path)
    tables = build_ngram_tables(read_arpa_arrays(path))
    try:
        write_compiled(cache, tables, source)
    except OSError as e:
        log.warning("cannot write the compiled LM %s (%s): this decode uses it from memory, "
                    "the next one compiles again; 'asr compile-lm %s OUT' puts it elsewhere",
                    cache, e.strerror or e, path)
    return tables


__all__ = ["SUFFIX", "compile_arpa", "default_compiled_path", "is_compiled_lm", "load_lm",
           "read_compiled", "source_stamp", "write_compiled"]
