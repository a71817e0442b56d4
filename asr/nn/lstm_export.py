"""What the LSTM encoders export: a graph on padded batches for offline export, and the
chunk step on fixed-shape (h, c) caches for streaming export."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from asr.functional.lengths import make_pad_mask, reverse_within_lengths
from asr.nn.encoder import CacheSpec, ExportStep

if TYPE_CHECKING:
    from asr.nn.lc_bilstm import LCBiLSTMEncoder
    from asr.nn.lstm import LSTMEncoder


def lstm_direction(lstm: nn.LSTM, suffix: str) -> nn.LSTM:
    """One direction of a bidirectional single-layer ``lstm`` ("" forward, "_reverse"
    backward) as a unidirectional LSTM with the same weights."""
    one = nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=True,
                  proj_size=lstm.proj_size)
    with torch.no_grad():
        for name, _ in one.named_parameters():
            getattr(one, name).copy_(getattr(lstm, name + suffix))
    return one


class PaddedLSTMs(nn.Module):
    """An LSTM encoder's inference graph on padded batches, without packed sequences
    (which tracers and ONNX cannot follow): per layer a forward LSTM over the padded frames
    (padding follows an utterance's frames, so it never reaches them) and, when given, a
    backward LSTM over each utterance reversed within its own length. Outputs at padded
    frames are zero, as pad_packed_sequence gives. (N, T, D), (N,) -> (N, T, D'), (N,)."""

    def __init__(self, forward_lstms: nn.ModuleList, backward_lstms: nn.ModuleList | None):
        super().__init__()
        self.forward_lstms, self.backward_lstms = forward_lstms, backward_lstms

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        valid = ~make_pad_mask(lengths, x.shape[1])[..., None]  # (N, T, 1)
        for i, fwd in enumerate(self.forward_lstms):
            ahead = fwd(x)[0]
            if self.backward_lstms is None:
                x = ahead * valid
                continue
            back = reverse_within_lengths(
                self.backward_lstms[i](reverse_within_lengths(x, lengths))[0], lengths)
            x = torch.cat([ahead, back], dim=-1) * valid
        return x, lengths


class LSTMExportStep(ExportStep):
    """One chunk of an LSTM encoder, unidirectional or latency-controlled (whose backward
    direction runs within the chunk's real frames): the (h, c) of each layer's forward
    LSTM, stacked over layers, carried between steps."""

    def __init__(self, encoder: LSTMEncoder | LCBiLSTMEncoder, chunk_size: int):
        super().__init__()
        self.encoder, self.chunk = encoder, chunk_size

    def forward(self, x: torch.Tensor, out_frames: torch.Tensor, h: torch.Tensor,
                c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        state = [(h[i:i + 1], c[i:i + 1]) for i in range(h.shape[0])]
        x, state = self.encoder.forward_chunk(x, state, self.chunk, out_frames)
        return x, torch.cat([h_i for h_i, _ in state]), torch.cat([c_i for _, c_i in state])

    def cache_specs(self) -> list[CacheSpec]:
        state = self.encoder.init_state()
        h, c = state[0]
        return [("h", (len(state), *h.shape[1:]), torch.float32),
                ("c", (len(state), *c.shape[1:]), torch.float32)]

    def metadata(self) -> dict:
        return {"left_chunks": None}


def lstm_onnx_refusal(encoder: LSTMEncoder | LCBiLSTMEncoder, fmt: str, what: str) -> str | None:
    """ONNX's LSTM operator has no projections: such an encoder exports to TorchScript only."""
    if fmt == "onnx" and encoder.state_dim != encoder.hidden_size:
        return (f"ONNX's LSTM operator has no projections: {what} with "
                "encoder.projection_size > 0 exports to TorchScript only")
    return None
