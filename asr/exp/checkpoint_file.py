"""One checkpoint file: safe to load, and checked before it is trusted.

Loading never runs code: ``torch.load(weights_only=True)`` unpickles tensors and plain
values only (dicts, lists, tuples, str, int, float, bool, None), so a crafted file with a
pickled payload (``os.system`` and the like) is refused before anything of it executes.
Everything we save is therefore made of those types (:func:`content_digest` enforces it at
save time, so an unloadable file is never written).

Every file carries a SHA-256 digest of its contents under ``checksum``. torch's zip reader
does not check CRCs, so flipped bytes inside a tensor record load silently; the digest
turns them into an unreadable checkpoint. Files whose model holds a NaN or infinity are
refused the same way: resuming or decoding from them cannot give anything useful.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from asr.atomic_io import atomic_write
from asr.errors import CheckpointError

log = logging.getLogger(__name__)
CHECKSUM_KEY = "checksum"


def content_digest(obj: Any) -> str:
    """SHA-256 over a canonical walk of ``obj``: tensors by dtype, shape and raw bytes,
    containers in their (insertion) order, scalars by type and exact repr."""
    h = hashlib.sha256()
    _digest_into(h, obj)
    return h.hexdigest()


def _digest_into(h: Any, obj: Any) -> None:
    kind = type(obj)
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    elif kind in (dict, OrderedDict):  # state_dict()s are OrderedDicts
        h.update(f"D{len(obj)}".encode())
        for k, v in obj.items():
            _digest_into(h, k)
            _digest_into(h, v)
    elif kind in (list, tuple):
        h.update(f"{'L' if kind is list else 'U'}{len(obj)}".encode())
        for v in obj:
            _digest_into(h, v)
    elif kind in (str, int, float, bool, type(None)):
        h.update(f"{kind.__name__}:{obj!r};".encode())
    else:
        raise TypeError(f"checkpoint values must be tensors or plain Python values "
                        f"(weights_only loading refuses others); got {kind.__qualname__}")


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Atomically write ``payload`` with its content digest (temp file, fsync, rename)."""
    payload = {k: v for k, v in payload.items() if k != CHECKSUM_KEY}
    payload[CHECKSUM_KEY] = content_digest(payload)
    atomic_write(Path(path), lambda f: torch.save(payload, f))


def load_checkpoint(path: Path, mmap: bool = False, verify: bool = True,
                    require_checksum: bool = True) -> dict[str, Any]:
    """Load on CPU with ``weights_only=True``; with ``verify``, check the digest and that
    the model's parameters are finite. ``mmap`` maps tensors lazily (cheap for reading
    metadata). A file without a digest (written elsewhere) passes only when
    ``require_checksum`` is false, with a warning. Raises :class:`CheckpointError`."""
    try:
        with warnings.catch_warnings():  # garbage files make torch warn before it fails
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except pickle.UnpicklingError as e:
        if "weights only load failed" in str(e).lower():
            raise CheckpointError(
                f"{path}: refused: it holds pickled Python objects ({_offending_global(e)}), "
                "which could run code when loaded; only tensors and plain values are "
                "loaded") from None
        raise CheckpointError(f"{path}: unreadable ({e})") from None
    except Exception as e:  # truncated, garbage, foreign
        raise CheckpointError(f"{path}: unreadable ({type(e).__name__}: {e})") from None
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path}: not a checkpoint (holds a {type(payload).__name__}, "
                              "not a dict)")
    if verify:
        _verify(path, payload, require_checksum)
    return payload


def _verify(path: Path, payload: dict[str, Any], require_checksum: bool) -> None:
    stored = payload.pop(CHECKSUM_KEY, None)
    if stored is None:
        if require_checksum:
            raise CheckpointError(f"{path}: carries no checksum, so its bytes cannot be "
                                  "verified (not written by this version of asr)")
        log.warning("%s carries no checksum: its bytes are not verified", path)
    elif content_digest(payload) != stored:
        raise CheckpointError(f"{path}: checksum mismatch: the file was corrupted after it "
                              "was written (disk, copy or network filesystem)")
    model = payload.get("model")
    if isinstance(model, dict):
        bad = [k for k, v in model.items()
               if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            raise CheckpointError(f"{path}: model parameters are not all finite "
                                  f"({', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''})")


def _offending_global(e: Exception) -> str:
    """The 'Unsupported global: GLOBAL x.y' part of torch's long refusal message."""
    for line in str(e).splitlines():
        if "GLOBAL" in line:
            return line.strip().rstrip(".")[:200]
    return "not tensors or plain values"
