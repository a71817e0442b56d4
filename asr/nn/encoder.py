"""The interface every encoder implements, so that streaming, export and ``train.init_from``
ask the encoder what it can do instead of testing its type: a new encoder is one module
plus one line in :mod:`asr.nn.registry`.

An encoder maps (N, T, D) frames and lengths (N,) to (N, T, output_dim) and lengths. Where
it can run chunk by chunk it also gives its initial state, the forward of one chunk, the
chunk sizes it was trained for and its export step (the chunk forward on fixed-shape
caches); every encoder gives its export graph (what tracers see) and may adopt another
encoder's weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import torch
from torch import nn

# (name, shape, dtype) of one cache tensor of an export step, in argument order
CacheSpec = tuple[str, tuple[int, ...], torch.dtype]


class NotStreamableError(ValueError):
    """The model cannot run chunk by chunk (its encoder or frontend sees the future)."""


class ExportStep(nn.Module):
    """One chunk of an encoder on caches of fixed shapes, for an exported step function:
    ``forward(x (1, C, D), out_frames (1,), *caches) -> (y (1, C, output_dim), *new_caches)``
    where ``out_frames`` of the C frames are real (fewer only in a stream's last chunk)."""

    def cache_specs(self) -> list[CacheSpec]:
        """The caches, in the order forward takes and returns them."""
        raise NotImplementedError

    def metadata(self) -> dict[str, Any]:
        """What a runtime needs to know beyond the caches (the export JSON's keys)."""
        return {}


class Encoder(nn.Module):
    """The base of every encoder; the defaults say "cannot stream" and "nothing to adopt"."""

    output_dim: int
    # how ONNX export traces the graph: torch.export ("dynamo") unrolls an nn.LSTM over
    # the example's frames, so LSTM graphs go through the TorchScript-based exporter
    onnx_exporter: ClassVar[Literal["dynamo", "torchscript"]] = "dynamo"

    def streaming_chunk_sizes(self) -> tuple[int, ...] | None:
        """The chunk sizes (encoder frames) it was trained for; None: any size (an LSTM).
        Raises NotStreamableError when it cannot stream."""
        raise NotStreamableError(
            f"the {type(self).__name__} was not trained for streaming: a Conformer needs "
            "encoder.chunk.sizes and encoder.causal_conv: true, an lc_bilstm "
            "encoder.chunk.sizes; or use encoder type lstm")

    def init_state(self, device: torch.device | str = "cpu") -> list:
        """The state before an utterance's first chunk."""
        raise NotStreamableError(f"the {type(self).__name__} has no chunk state")

    def forward_chunk(self, x: torch.Tensor, state: list, chunk_size: int,
                      num_frames: torch.Tensor | None = None) -> tuple[torch.Tensor, list]:
        """x (1, C', D), the next C' <= ``chunk_size`` frames of one utterance ->
        (1, C', output_dim) and the state after them: what the full forward with
        ``chunk_size`` gives for these frames."""
        raise NotStreamableError(f"the {type(self).__name__} cannot run chunk by chunk")

    def export_step(self, chunk_size: int, left_chunks: int | None = None) -> ExportStep:
        """The chunk forward on fixed-shape caches; ``left_chunks`` overrides the attention
        context of an encoder that has one. Raises ValueError for what cannot be exported."""
        self.streaming_chunk_sizes()
        raise NotStreamableError(f"no streaming export for encoder {type(self).__name__}")

    def export_graph(self) -> nn.Module:
        """The module tracers follow for an offline export: the same function of (x, lengths)
        built from the same weights without what tracing cannot follow."""
        return self

    def export_refusal(self, fmt: str) -> str | None:
        """Why this encoder cannot be exported to ``fmt`` ("onnx" or "torchscript"), or None."""
        return None

    def adopt_weights(self, source: Mapping[str, torch.Tensor], prefix: str = "encoder."
                      ) -> dict[str, torch.Tensor]:
        """Tensors of another encoder's state dict ``source`` renamed to this encoder's
        names (``train.init_from``); those already named alike need no entry."""
        return {}
