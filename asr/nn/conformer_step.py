"""The Conformer's export step: one chunk on attention and conv caches of fixed shapes
(WeNet's and NeMo's cache-aware export), a function of tensors only, so tracers keep it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from asr.nn.encoder import CacheSpec, ExportStep
from asr.nn.rel_position import relative_positions

if TYPE_CHECKING:
    from asr.nn.conformer import ConformerEncoder


class ConformerExportStep(ExportStep):
    """One chunk of a causal-conv, chunk-trained Conformer.

    Caches: ``att_k``, ``att_v`` (layers, H, L, d_k), L = left_chunks x C: the keys and
    values of the last L frames, right-aligned; ``att_len`` (1,) how many are real (0 at
    the start, then C more per chunk up to L); ``conv_cache`` (layers, D, kernel_size - 1).
    The slots before the real ones are masked, and relative positions depend on distances
    only, so a padded cache attends as the eager one of ``att_len`` frames does.
    """

    def __init__(self, encoder: ConformerEncoder, chunk_size: int, left_chunks: int):
        super().__init__()
        self.encoder, self.chunk = encoder, chunk_size
        self.left = left_chunks * chunk_size  # L: cached attention frames
        # distances L+C-1 .. -(C-1) of C queries after L keys: the same in every step
        self.register_buffer("pos_emb", relative_positions(
            self.left + chunk_size, encoder.output_dim, torch.device("cpu"), queries=chunk_size),
            persistent=False)

    def forward(self, x: torch.Tensor, out_frames: torch.Tensor, att_k: torch.Tensor,
                att_v: torch.Tensor, att_len: torch.Tensor, conv: torch.Tensor
                ) -> tuple[torch.Tensor, ...]:
        chunk, left = self.chunk, self.left
        x = self.encoder.input_proj(x) * self.encoder.scale
        in_chunk = torch.arange(chunk, device=x.device) < out_frames  # (C,) real frames
        cached = torch.arange(left, device=x.device) >= left - att_len  # (L,) real cache slots
        key_mask = ~torch.cat([cached, in_chunk])[None, None, None, :]  # (1, 1, 1, L + C)
        pad_mask = ~in_chunk[None]  # (1, C)
        ks, vs, convs = [], [], []
        for i, block in enumerate(self.encoder.blocks):
            cache = (att_k[i:i + 1], att_v[i:i + 1], conv[i:i + 1])
            x, (k, v, conv_i) = block.forward_chunk(x, self.pos_emb, cache, key_mask, pad_mask)
            ks.append(k[:, :, chunk:])  # (1, H, L, d_k): the last L of the L + C frames
            vs.append(v[:, :, chunk:])
            convs.append(conv_i)
        return (x, torch.cat(ks), torch.cat(vs), (att_len + out_frames).clamp(max=left),
                torch.cat(convs))

    def cache_specs(self) -> list[CacheSpec]:
        attn = self.encoder.blocks[0].attn
        n = len(self.encoder.blocks)
        kv = (n, attn.heads, self.left, attn.d_k)
        return [("att_k", kv, torch.float32), ("att_v", kv, torch.float32),
                ("att_len", (1,), torch.int64),
                ("conv_cache", (n, self.encoder.output_dim, self.encoder.blocks[0].conv.context),
                 torch.float32)]

    def metadata(self) -> dict:
        return {"left_chunks": self.left // self.chunk}
