"""Which torch device a run uses: 'auto', 'cpu' or 'cuda[:N]', checked up front."""

from __future__ import annotations

import warnings

import torch

from asr.errors import AsrError


def resolve_device(name: str) -> str:
    """'auto' picks CUDA when present; asking for CUDA without one is a clear error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AsrError(f"device '{name}' was requested but no CUDA device is available "
                       "(use cpu or auto)")
    return name


def flush_denormals() -> None:
    """Compute denormal floats as zero on this thread's CPU (x86 runs them up to 6x slower:
    saturated LSTM gates on the CTC plateau make many). numpy's finfo then warns, once per
    float type, that "the smallest subnormal is zero": expected here, so not shown."""
    torch.set_flush_denormal(True)
    warnings.filterwarnings("ignore", message="The value of the smallest subnormal",
                            category=UserWarning)
