"""LSTM encoders: a stack of nn.LSTM layers on packed sequences, bidirectional
(:class:`asr.nn.bilstm.BiLSTMEncoder`) or forward in time only (:class:`LSTMEncoder`,
which streams as it is, one chunk of frames at a time)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from asr.config.model_schema import LSTMConfig, LSTMStackConfig
from asr.nn.encoder import Encoder, ExportStep
from asr.nn.grad_filter import GradientFilter
from asr.nn.layer_hook import LayerHook
from asr.nn.lstm_export import LSTMExportStep, PaddedLSTMs, lstm_direction, lstm_onnx_refusal

# per layer: the hidden state (1, 1, projection_size or hidden_size) and the cell state
# (1, 1, hidden_size) after the last frame seen
LSTMState = tuple[torch.Tensor, torch.Tensor]
LSTMCall = Callable[..., tuple]  # (input, state=None) -> (output, state), as nn.LSTM


def filtered_lstms(grad_filter: nn.Module | None, x: torch.Tensor, lstms: Sequence[nn.LSTM]
                   ) -> tuple[torch.Tensor, list[LSTMCall]]:
    """A layer's input ``x`` and the LSTMs that read it, passed through the layer's
    GradientFilter together (icefall's ScaledLSTM: the filter sees the input's and the
    weights' gradients), as callables on the filtered weights. Without a filter, or
    without gradients (the filter is an identity in forward), the LSTMs as they are."""
    if grad_filter is None or not torch.is_grad_enabled():
        return x, list(lstms)
    names = lstms[0]._flat_weights_names
    x, *weights = grad_filter(x, *(getattr(m, n) for m in lstms for n in names))
    k = len(names)

    def call(m: nn.LSTM, w: list[torch.Tensor]) -> LSTMCall:
        params = dict(zip(names, w, strict=True))
        return lambda inp, hc=None: functional_call(m, params, (inp, hc))
    return x, [call(m, weights[j * k:(j + 1) * k]) for j, m in enumerate(lstms)]


class LSTMStack(Encoder):
    """(N, T, D) -> (N, T, output_dim); lengths unchanged.

    Layers run on packed sequences, so an utterance's output does not depend on the
    padding of the batch it is in. Each layer is its own nn.LSTM so that the filter sees
    the layer's input gradient, as icefall's ScaledLSTM does.
    """

    onnx_exporter = "torchscript"

    def __init__(self, input_dim: int, cfg: LSTMStackConfig, bidirectional: bool):
        super().__init__()
        if cfg.num_layers < 1 or cfg.hidden_size < 1:
            raise ValueError("encoder.num_layers and encoder.hidden_size must be >= 1")
        self.lstms = nn.ModuleList()
        self.filters = nn.ModuleList()
        dim = input_dim
        for _ in range(cfg.num_layers):
            self.lstms.append(nn.LSTM(dim, cfg.hidden_size, batch_first=True,
                                      bidirectional=bidirectional,
                                      proj_size=cfg.projection_size))
            if cfg.grad_filter.enabled:
                self.filters.append(GradientFilter(batch_dim=0,
                                                   threshold=cfg.grad_filter.threshold))
            dim = (2 if bidirectional else 1) * (cfg.projection_size or cfg.hidden_size)
        self.dropout = nn.Dropout(cfg.dropout)
        self.output_dim = dim
        self.hidden_size = cfg.hidden_size
        self.state_dim = cfg.projection_size or cfg.hidden_size  # h's size, per direction

    def forward(self, x: torch.Tensor, lengths: torch.Tensor,
                after_layer: LayerHook | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``after_layer(k, x)`` replaces layer k's output (1-based; intermediate CTC)."""
        total = max(1, x.shape[1])
        if x.shape[1] == 0:
            x = x.new_zeros(x.shape[0], 1, x.shape[2])
        # packing needs >= 1 frame; a zero-length utterance keeps output length 0
        cpu_lens = lengths.cpu().clamp(min=1)
        for i, lstm in enumerate(self.lstms):
            x, (run,) = filtered_lstms(self.filters[i] if self.filters else None, x, [lstm])
            packed = pack_padded_sequence(x, cpu_lens, batch_first=True, enforce_sorted=False)
            x, _ = pad_packed_sequence(run(packed)[0], batch_first=True, total_length=total)
            x = self.dropout(x)
            if after_layer is not None:
                x = after_layer(i + 1, x)
        return x, lengths

    def export_graph(self) -> nn.Module:
        suffixes = ("", "_reverse") if self.lstms[0].bidirectional else ("",)
        forward, *backward = (nn.ModuleList(lstm_direction(m, s) for m in self.lstms)
                              for s in suffixes)
        return PaddedLSTMs(forward, backward[0] if backward else None)

    def export_refusal(self, fmt: str) -> str | None:
        return lstm_onnx_refusal(self, fmt, "a BiLSTM" if self.lstms[0].bidirectional
                                 else "an LSTM")


class LSTMEncoder(LSTMStack):
    """(N, T, D) -> (N, T, projection_size or hidden_size); lengths unchanged.

    The :class:`LSTMStack` forward in time only, so frame t's output depends on frames
    <= t and :meth:`forward_chunk` with the carried (h, c) gives what the full forward
    gives, for chunks of any size.
    """

    def __init__(self, input_dim: int, cfg: LSTMConfig):
        super().__init__(input_dim, cfg, bidirectional=False)

    def streaming_chunk_sizes(self) -> None:
        """Any chunk size: the output of a frame never depends on a later one."""
        return None

    def export_step(self, chunk_size: int, left_chunks: int | None = None) -> ExportStep:
        if left_chunks is not None:
            raise ValueError("--left-chunks is for a Conformer; an LSTM has no attention cache")
        return LSTMExportStep(self, chunk_size)

    def init_state(self, device: torch.device | str = "cpu") -> list[LSTMState]:
        """Zero (h, c) per layer: what nn.LSTM starts every sequence from."""
        return [(torch.zeros(1, 1, self.state_dim, device=device),
                 torch.zeros(1, 1, self.hidden_size, device=device)) for _ in self.lstms]

    def forward_chunk(self, x: torch.Tensor, state: list[LSTMState], chunk_size: int = 0,
                      num_frames: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, list[LSTMState]]:
        """x (1, C, D), the next frames of one utterance -> (1, C, output_dim) and the
        state after them. ``chunk_size`` and ``num_frames`` are unused: an LSTM takes
        chunks of any size, and its real frames never read the padding after them."""
        new_state = []
        for lstm, hc in zip(self.lstms, state, strict=True):
            x, hc = lstm(x, hc)
            x = self.dropout(x)
            new_state.append(hc)
        return x, new_state
