"""Latency-controlled BiLSTM encoder (Kaldi's chunked BLSTM; Zhang et al., "Highway long
short-term memory RNNs for distant speech recognition", 2016): per layer a forward LSTM
over the whole utterance and a backward LSTM that starts afresh at the end of every chunk
of ``chunk_size`` encoder frames, so a chunk's outputs need no frame after it.

Where a unidirectional LSTM stays on CTC's all-blank plateau (short clips, little data:
every frame before the word is uninformative), the backward direction lets each chunk's
frames see the rest of their chunk; trained on dynamic chunks with full context mixed in
(WeNet's recipe), one model serves whole utterances (where it is the BiLSTM) and chunks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from asr.config.model_schema import LCBiLSTMConfig
from asr.functional.chunk_mask import draw_chunk_size
from asr.functional.lengths import make_pad_mask, reverse_within_lengths
from asr.nn.encoder import Encoder, ExportStep
from asr.nn.grad_filter import GradientFilter
from asr.nn.layer_hook import LayerHook
from asr.nn.lstm import LSTMState, filtered_lstms
from asr.nn.lstm_export import LSTMExportStep, PaddedLSTMs, lstm_onnx_refusal


class LCBiLSTMEncoder(Encoder):
    """(N, T, D) -> (N, T, 2 * (projection_size or hidden_size)); lengths unchanged.

    Chunks start at frame 0, as the Conformer's chunk masks do; padded frames (after each
    utterance) are never read by a valid one and come out as zeros.
    """

    onnx_exporter = "torchscript"

    def __init__(self, input_dim: int, cfg: LCBiLSTMConfig):
        super().__init__()
        if cfg.num_layers < 1 or cfg.hidden_size < 1:
            raise ValueError("encoder.num_layers and encoder.hidden_size must be >= 1")
        self.chunk = cfg.chunk
        self.hidden_size = cfg.hidden_size
        self.state_dim = cfg.projection_size or cfg.hidden_size  # h's size
        self.forward_lstms, self.backward_lstms = nn.ModuleList(), nn.ModuleList()
        self.filters = nn.ModuleList()
        dim = input_dim
        for _ in range(cfg.num_layers):
            for stack in (self.forward_lstms, self.backward_lstms):
                stack.append(nn.LSTM(dim, cfg.hidden_size, batch_first=True,
                                     proj_size=cfg.projection_size))
            if cfg.grad_filter.enabled:
                self.filters.append(GradientFilter(batch_dim=0,
                                                   threshold=cfg.grad_filter.threshold))
            dim = 2 * self.state_dim
        self.dropout = nn.Dropout(cfg.dropout)
        self.output_dim = dim

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, chunk_size: int | None = None,
                after_layer: LayerHook | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, T, D), lengths (N,) -> (N, T, output_dim), lengths. ``chunk_size``: 0 for
        full context (a BiLSTM), C > 0 for C-frame chunks; None draws it per batch in
        training (dynamic chunks) and is full context otherwise. ``after_layer(k, x)``
        replaces layer k's output (1-based; intermediate CTC)."""
        if chunk_size is None:
            chunk_size = draw_chunk_size(self.chunk.sizes, self.chunk.full_context_prob) \
                if self.training else 0
        n, t, _ = x.shape
        c = chunk_size or max(t, 1)
        k = -(-t // c)  # chunks per utterance
        starts = torch.arange(k, device=lengths.device) * c
        chunk_lens = (lengths[:, None] - starts[None]).clamp(0, c).reshape(-1)  # (N*K,)
        valid = ~make_pad_mask(lengths, t)[..., None]  # (N, T, 1)
        for i, lstms in enumerate(zip(self.forward_lstms, self.backward_lstms, strict=True)):
            x, (fwd, bwd) = filtered_lstms(self.filters[i] if self.filters else None, x, lstms)
            ahead = fwd(x)[0]  # padding follows the frames: a forward LSTM never reads it
            z = F.pad(x, (0, 0, 0, k * c - t)).reshape(n * k, c, x.shape[2])  # (N*K, C, D)
            back = reverse_within_lengths(bwd(reverse_within_lengths(z, chunk_lens))[0],
                                          chunk_lens).reshape(n, k * c, -1)[:, :t]
            x = self.dropout(torch.cat([ahead, back], dim=-1) * valid)
            if after_layer is not None:
                x = after_layer(i + 1, x)
        return x, lengths

    def adopt_weights(self, source: Mapping[str, torch.Tensor], prefix: str = "encoder."
                      ) -> dict[str, torch.Tensor]:
        """A BiLSTM encoder's tensors in ``source`` (``{prefix}lstms.{i}.{name}`` and
        ``..._reverse``) under this encoder's names: its directions are the two LSTMs of
        the layer, so a trained BiLSTM starts a latency-controlled one (``train.init_from``)."""
        renamed = {}
        for key, value in source.items():
            m = re.fullmatch(re.escape(prefix) + r"lstms\.(\d+)\.(\w+?)(_reverse)?", key)
            if m:
                side = "backward_lstms" if m.group(3) else "forward_lstms"
                renamed[f"{prefix}{side}.{m.group(1)}.{m.group(2)}"] = value
        return renamed

    def streaming_chunk_sizes(self) -> tuple[int, ...] | None:
        return self.chunk.sizes if self.chunk.sizes else super().streaming_chunk_sizes()

    def export_step(self, chunk_size: int, left_chunks: int | None = None) -> ExportStep:
        self.streaming_chunk_sizes()
        if left_chunks is not None:
            raise ValueError("--left-chunks is for a Conformer; an LSTM has no attention cache")
        return LSTMExportStep(self, chunk_size)

    def export_graph(self) -> nn.Module:
        """Whole utterances are one chunk: its forward and backward LSTMs as they are."""
        return PaddedLSTMs(self.forward_lstms, self.backward_lstms)

    def export_refusal(self, fmt: str) -> str | None:
        return lstm_onnx_refusal(self, fmt, "an LSTM")

    def init_state(self, device: torch.device | str = "cpu") -> list[LSTMState]:
        """Zero (h, c) of each layer's forward LSTM, as every utterance starts."""
        return [(torch.zeros(1, 1, self.state_dim, device=device),
                 torch.zeros(1, 1, self.hidden_size, device=device))
                for _ in self.forward_lstms]

    def forward_chunk(self, x: torch.Tensor, state: list[LSTMState], chunk_size: int = 0,
                      num_frames: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, list[LSTMState]]:
        """x (1, C', D), one chunk of one utterance (C' <= chunk_size, fewer only for its
        last chunk) -> (1, C', output_dim) and the forward LSTMs' state after it: what the
        full forward with ``chunk_size`` gives for these frames. ``num_frames`` (1,): how
        many of the C' frames are real (an export's padded last chunk); default all."""
        lens = torch.tensor([x.shape[1]], device=x.device) if num_frames is None else num_frames
        new_state = []
        for fwd, bwd, hc in zip(self.forward_lstms, self.backward_lstms, state, strict=True):
            ahead, hc = fwd(x, hc)
            back = reverse_within_lengths(bwd(reverse_within_lengths(x, lens))[0], lens)
            x = torch.cat([ahead, back], dim=-1)
            new_state.append(hc)
        return x, new_state
