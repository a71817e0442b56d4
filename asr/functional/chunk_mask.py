"""Chunks for streaming encoders: WeNet's U2 attention masks and dynamic chunk draws."""

from __future__ import annotations

import torch


def chunk_attention_mask(length: int, chunk_size: int, left_chunks: int = -1,
                         device: torch.device | None = None) -> torch.Tensor:
    """(T, T) bool mask, True where query frame i may NOT attend to key frame j.

    Frames are grouped into chunks of ``chunk_size`` from frame 0; frame i sees every
    frame of its own chunk (so up to chunk_size - 1 frames ahead: the latency a chunk
    costs) and of the ``left_chunks`` chunks before it (-1: all of them). A chunked
    decoder that caches the keys of those left chunks computes exactly this attention.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    chunk = torch.arange(length, device=device) // chunk_size  # (T,) chunk of each frame
    ahead = chunk[None, :] > chunk[:, None]  # key in a later chunk than the query
    if left_chunks < 0:
        return ahead
    return ahead | (chunk[None, :] < chunk[:, None] - left_chunks)


def draw_chunk_size(sizes: tuple[int, ...], full_context_prob: float) -> int:
    """A training batch's chunk size, 0 for full context (WeNet's dynamic chunk training).

    From the torch CPU RNG, which training seeds from (seed, epoch, rank) and checkpoints
    (asr.train.rng), so the draws replay on resume.
    """
    if not sizes or float(torch.rand(())) < full_context_prob:
        return 0
    return sizes[int(torch.randint(len(sizes), ()))]
