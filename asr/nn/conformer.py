"""Conformer encoder (Gulati et al., 2020): macaron feed-forwards, relative-position
multi-head self-attention (Transformer-XL style, as in ESPnet and WeNet), a depthwise
convolution module, pre-LayerNorm, padding masks; an optional GradientFilter per layer.

The conv module normalizes with LayerNorm rather than BatchNorm so that padding and
batch composition never change an utterance's output.

Streaming (WeNet's U2): with ``chunk.sizes`` the encoder trains under chunk attention
masks, each batch drawing its chunk size (or full context) from the torch CPU RNG, which
the training loop seeds from (seed, epoch, rank) and saves in checkpoints as it does for
dropout. With ``causal_conv`` the depthwise kernel sees past frames only. Then
:meth:`ConformerEncoder.forward_chunk` runs one chunk at a time on cached attention keys
and values and the conv's left context, and gives what the full forward gives under the
same chunk mask.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call

from asr.config.model_schema import ConformerConfig
from asr.functional.chunk_mask import chunk_attention_mask, draw_chunk_size
from asr.functional.lengths import make_pad_mask
from asr.nn.conformer_step import ConformerExportStep
from asr.nn.encoder import Encoder, ExportStep
from asr.nn.grad_filter import GradientFilter
from asr.nn.layer_hook import LayerHook
from asr.nn.rel_position import rel_shift, relative_positions


class RelPositionAttention(nn.Module):
    """Transformer-XL relative-position self-attention on (N, T, D) with a key padding mask.

    The position term (q + v_bias) . p_{i-j} and the padding mask enter
    ``scaled_dot_product_attention`` as one additive float mask; the content term
    (q + u_bias) . k_j is SDPA's own product. The fused kernels then skip materializing
    the content scores and the softmax in float32 eager ops (on CUDA the memory-efficient
    kernel takes a float mask; FlashAttention does not, so it is never picked here).
    """

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        if dim % heads:
            raise ValueError(f"encoder.d_model {dim} must be divisible by num_heads {heads}")
        self.heads, self.d_k = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.pos = nn.Linear(dim, dim, bias=False)
        self.bias_u = nn.Parameter(torch.zeros(heads, self.d_k))
        self.bias_v = nn.Parameter(torch.zeros(heads, self.d_k))
        self.out = nn.Linear(dim, dim)
        self.dropout_p = dropout

    def forward(self, x: torch.Tensor, pos_emb: torch.Tensor, pad_mask: torch.Tensor,
                chunk_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (N, T, D), pos_emb (2T-1, D), pad_mask (N, T) True at padding, chunk_mask
        (T, T) True where a query may not see a key (or None: full context) -> (N, T, D)."""
        n, t, _ = x.shape
        # (N, T, 3D) -> 3 x (N, H, T, d_k)
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, self.d_k).permute(2, 0, 3, 1, 4)
        blocked = pad_mask[:, None, None, :]  # (N, 1, 1, T)
        if chunk_mask is not None:
            blocked = blocked | chunk_mask  # (N, 1, T, T)
            # a padded query in a chunk of padding sees no key at all, and an all -inf row
            # gives NaN; its output is never used, so let it see everything instead
            blocked = blocked & ~blocked.all(dim=-1, keepdim=True)
        return self._attend(q, k, v, pos_emb, blocked)

    def forward_chunk(self, x: torch.Tensor, pos_emb: torch.Tensor, k_cache: torch.Tensor,
                      v_cache: torch.Tensor, key_mask: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One chunk of one utterance after the cached frames before it.

        x (1, C, D), pos_emb (L+2C-1, D) over distances L+C-1..-(C-1), k_cache and v_cache
        (1, H, L, d_k), key_mask (1, 1, 1, L+C) True at keys to ignore (None: none; the
        fixed-shape export pads its cache) -> output (1, C, D) and the keys and values of
        all L+C frames.
        """
        n, t, _ = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, self.d_k).permute(2, 0, 3, 1, 4)
        k, v = torch.cat([k_cache, k], dim=2), torch.cat([v_cache, v], dim=2)
        if key_mask is None:
            key_mask = torch.zeros(1, 1, 1, k.shape[2], dtype=torch.bool, device=x.device)
        return self._attend(q, k, v, pos_emb, key_mask), k, v

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, pos_emb: torch.Tensor,
                blocked: torch.Tensor) -> torch.Tensor:
        """q (N, H, Q, d_k), k and v (N, H, K, d_k), the queries being the last Q of the K
        frames; pos_emb (K+Q-1, D); blocked broadcastable to (N, H, Q, K) -> (N, Q, D)."""
        n, _, t, _ = q.shape
        p = self.pos(pos_emb).view(-1, self.heads, self.d_k).transpose(0, 1)  # (H, K+Q-1, d_k)
        position = rel_shift((q + self.bias_v[None, :, None]) @ p.transpose(-1, -2), k.shape[2])
        # SDPA scales q . k by 1/sqrt(d_k) itself; the position term gets the same scale
        bias = (position / math.sqrt(self.d_k)).masked_fill(blocked, float("-inf"))
        y = nn.functional.scaled_dot_product_attention(
            q + self.bias_u[None, :, None], k, v, attn_mask=bias.to(q.dtype),
            dropout_p=self.dropout_p if self.training else 0.0)
        # (N, H, Q, d_k) -> (N, Q, D). A copy, then a view: torch.export (for ONNX) records
        # SDPA's output strides so that a plain reshape of the transpose cannot be traced
        y = y.transpose(1, 2).clone(memory_format=torch.contiguous_format)
        return self.out(y.view(n, t, -1))


class ConvModule(nn.Module):
    """Pointwise + GLU, depthwise conv over time, LayerNorm + SiLU, pointwise.

    ``causal``: the depthwise kernel covers the current and the kernel_size - 1 past
    frames (zeros before the first), so a chunk needs only those past frames as context.
    """

    def __init__(self, dim: int, kernel_size: int, dropout: float, causal: bool = False):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"encoder.kernel_size must be odd, got {kernel_size}")
        self.causal, self.context = causal, kernel_size - 1
        self.pointwise_in = nn.Conv1d(dim, 2 * dim, 1)
        self.depthwise = nn.Conv1d(dim, dim, kernel_size, groups=dim,
                                   padding=0 if causal else kernel_size // 2)
        self.norm = nn.LayerNorm(dim)
        self.pointwise_out = nn.Conv1d(dim, dim, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor,
                cache: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (N, T, D), pad_mask (N, T) True at padding, cache (N, D, kernel_size - 1) the
        depthwise input of the frames before x (causal only; None: zeros) -> (N, T, D) and
        the cache for the frames after x (None when not causal)."""
        x = x.masked_fill(pad_mask[..., None], 0.0).transpose(1, 2)  # (N, D, T) for Conv1d
        x = nn.functional.glu(self.pointwise_in(x), dim=1)
        # padded frames are zeroed again so the depthwise kernel never sees their values
        x = x.masked_fill(pad_mask[:, None], 0.0)
        if self.causal:
            left = x.new_zeros(x.shape[0], x.shape[1], self.context) if cache is None else cache
            x = torch.cat([left, x], dim=2)  # (N, D, kernel_size - 1 + T)
            cache = x[:, :, x.shape[2] - self.context:]
        x = self.depthwise(x)
        x = nn.functional.silu(self.norm(x.transpose(1, 2))).transpose(1, 2)
        return self.dropout(self.pointwise_out(x).transpose(1, 2)), cache  # (N, T, D)


def feed_forward(dim: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.SiLU(),
                         nn.Dropout(dropout), nn.Linear(hidden, dim), nn.Dropout(dropout))


class ConformerBlock(nn.Module):
    """x + FF/2 -> x + MHSA -> x + Conv -> x + FF/2 -> LayerNorm (macaron, pre-LN)."""

    def __init__(self, cfg: ConformerConfig):
        super().__init__()
        d = cfg.d_model
        self.ff1 = feed_forward(d, cfg.ff_dim, cfg.dropout)
        self.norm_attn = nn.LayerNorm(d)
        self.attn = RelPositionAttention(d, cfg.num_heads, cfg.attention_dropout)
        self.norm_conv = nn.LayerNorm(d)
        self.conv = ConvModule(d, cfg.kernel_size, cfg.dropout, cfg.causal_conv)
        self.ff2 = feed_forward(d, cfg.ff_dim, cfg.dropout)
        self.norm_out = nn.LayerNorm(d)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, pos_emb: torch.Tensor, pad_mask: torch.Tensor,
                chunk_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (N, T, D) -> (N, T, D); masks as in :meth:`RelPositionAttention.forward`."""
        x = x + 0.5 * self.ff1(x)
        x = x + self.dropout(self.attn(self.norm_attn(x), pos_emb, pad_mask, chunk_mask))
        x = x + self.conv(self.norm_conv(x), pad_mask)[0]
        x = x + 0.5 * self.ff2(x)
        return self.norm_out(x)

    def forward_chunk(self, x: torch.Tensor, pos_emb: torch.Tensor, cache: LayerCache,
                      key_mask: torch.Tensor | None = None, pad_mask: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, LayerCache]:
        """x (1, C, D) after the cached frames -> (1, C, D) and the cache grown by x.
        ``key_mask`` as in :meth:`RelPositionAttention.forward_chunk`; ``pad_mask`` (1, C)
        True at padding after the last frame (None: none)."""
        k_cache, v_cache, conv_cache = cache
        x = x + 0.5 * self.ff1(x)
        y, k, v = self.attn.forward_chunk(self.norm_attn(x), pos_emb, k_cache, v_cache, key_mask)
        x = x + self.dropout(y)
        if pad_mask is None:
            pad_mask = torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device)  # (1, C)
        y, conv_cache = self.conv(self.norm_conv(x), pad_mask, conv_cache)
        x = x + y
        x = x + 0.5 * self.ff2(x)
        return self.norm_out(x), (k, v, conv_cache)


# per layer: attention keys and values (1, H, L, d_k) of the L frames a chunk attends to
# before itself, and the depthwise conv's input over the kernel_size - 1 frames before it
LayerCache = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class ConformerEncoder(Encoder):
    """(N, T, D_in) -> (N, T, d_model); lengths unchanged."""

    def __init__(self, input_dim: int, cfg: ConformerConfig):
        super().__init__()
        self.chunk = cfg.chunk
        self.causal_conv = cfg.causal_conv
        self.input_proj = (nn.Identity() if input_dim == cfg.d_model
                           else nn.Linear(input_dim, cfg.d_model))
        self.scale = math.sqrt(cfg.d_model)  # as ESPnet: inputs scaled before position info
        self.dropout = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(ConformerBlock(cfg) for _ in range(cfg.num_layers))
        self.filters = nn.ModuleList(
            GradientFilter(batch_dim=0, threshold=cfg.grad_filter.threshold)
            for _ in range(cfg.num_layers)) if cfg.grad_filter.enabled else None
        self.output_dim = cfg.d_model

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, chunk_size: int | None = None,
                after_layer: LayerHook | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, T, D_in), lengths (N,) -> (N, T, d_model), lengths. ``chunk_size``: 0 for
        full context, C > 0 for C-frame chunks with ``chunk.left_chunks`` of left context;
        None draws it per batch in training (dynamic chunks) and is full context otherwise.
        ``after_layer(k, x)`` replaces block k's output (1-based; intermediate CTC).
        """
        if chunk_size is None:
            chunk_size = draw_chunk_size(self.chunk.sizes, self.chunk.full_context_prob) \
                if self.training else 0
        x = self.dropout(self.input_proj(x) * self.scale)
        pad_mask = make_pad_mask(lengths, x.shape[1])  # (N, T), True at padding
        chunk_mask = chunk_attention_mask(x.shape[1], chunk_size, self.chunk.left_chunks,
                                          x.device) if chunk_size else None
        pos_emb = self.dropout(relative_positions(x.shape[1], x.shape[2], x.device))
        # the filters only act on gradients: without them, blocks run plainly (inference,
        # tracing for export)
        filtered = self.filters is not None and torch.is_grad_enabled()
        for i, block in enumerate(self.blocks):
            if not filtered:
                x = block(x, pos_emb, pad_mask, chunk_mask)
            else:
                names, params = zip(*block.named_parameters(), strict=True)
                x, *params = self.filters[i](x, *params)
                x = functional_call(block, dict(zip(names, params, strict=True)),
                                    (x, pos_emb, pad_mask, chunk_mask))
            if after_layer is not None:
                x = after_layer(i + 1, x)
        return x, lengths

    def streaming_chunk_sizes(self) -> tuple[int, ...] | None:
        if self.chunk.sizes and self.causal_conv:
            return self.chunk.sizes
        return super().streaming_chunk_sizes()

    def export_step(self, chunk_size: int, left_chunks: int | None = None) -> ExportStep:
        """``left_chunks`` replaces the trained ``chunk.left_chunks``: it must be given (a
        fixed maximum) when that is -1, unlimited, which has no static cache shape."""
        self.streaming_chunk_sizes()
        left = self.chunk.left_chunks if left_chunks is None else left_chunks
        if left < 0:
            raise ValueError("the model attends to all of the past (encoder.chunk.left_chunks: "
                             "-1), which has no fixed-shape cache: train (and decode) with a "
                             "finite left_chunks, or export with --left-chunks N as a fixed "
                             "maximum")
        if left == 0:
            raise ValueError("encoder.chunk.left_chunks 0 (no attention cache) is not exported: "
                             "give --left-chunks N >= 1")
        return ConformerExportStep(self, chunk_size, left)

    def init_state(self, device: torch.device | str = "cpu") -> list[LayerCache]:
        """The caches before an utterance's first chunk: no frames to attend to, zeros as
        the depthwise conv's left context (what the full forward pads with)."""
        attn = self.blocks[0].attn
        kv = torch.zeros(1, attn.heads, 0, attn.d_k, device=device)
        conv = torch.zeros(1, self.output_dim, self.blocks[0].conv.context, device=device)
        return [(kv, kv, conv) for _ in self.blocks]

    def forward_chunk(self, x: torch.Tensor, state: list[LayerCache], chunk_size: int,
                      num_frames: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, list[LayerCache]]:
        """x (1, C', D_in), the next C' <= ``chunk_size`` frames of one utterance (fewer
        only for its last chunk) -> (1, C', d_model) and the state for the next chunk.

        Equals the full forward with ``chunk_size`` for these frames: keys older than
        ``chunk.left_chunks`` chunks are dropped from the cache, as the mask hides them.
        """
        if not self.causal_conv:
            raise ValueError("chunked inference needs a causal_conv Conformer: a centred "
                             "depthwise kernel reads frames of the next chunk")
        x = self.input_proj(x) * self.scale
        cached = state[0][0].shape[2]
        pos_emb = relative_positions(cached + x.shape[1], x.shape[2], x.device,
                                     queries=x.shape[1])
        keep = None if self.chunk.left_chunks < 0 else self.chunk.left_chunks * chunk_size
        new_state = []
        for block, cache in zip(self.blocks, state, strict=True):
            x, (k, v, conv) = block.forward_chunk(x, pos_emb, cache)
            if keep is not None:
                k, v = k[:, :, k.shape[2] - min(keep, k.shape[2]):], \
                    v[:, :, v.shape[2] - min(keep, v.shape[2]):]
            new_state.append((k, v, conv))
        return x, new_state
