"""The model's part of the config schema: frontends, encoders (each a dataclass picked by
its ``type``) and the model around them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from asr.config.fields import doc


class EncoderConfig:
    """What the rest of the config asks any encoder's config (the encoder dataclasses
    derive from it)."""

    @property
    def chunk_sizes(self) -> tuple[int, ...]:
        """The chunk sizes (encoder frames) it trains on; empty: whole utterances only."""
        return ()

    @property
    def streams(self) -> bool:
        """Whether it can run chunk by chunk."""
        return bool(self.chunk_sizes)


@dataclass(frozen=True)
class GradFilterConfig:
    """icefall's GradientFilter: damp the gradient of sequences far above the median."""

    enabled: bool = doc(True, "a GradientFilter before every encoder layer")
    threshold: float = doc(10.0, "scale sequences whose gradient norm exceeds this x the batch "
                                 "median")


@dataclass(frozen=True)
class StackFrontendConfig:
    """Stack ``stack`` consecutive frames into one: the cheap subsampling for LSTMs."""

    type: Literal["stack"] = doc("stack", "picks this variant")
    stack: int = doc(4, "frames stacked into one (the subsampling factor)")


@dataclass(frozen=True)
class Conv2dFrontendConfig:
    """Two (or three) stride-2/3 Conv2d layers, as in ESPnet and WeNet."""

    type: Literal["conv2d"] = doc("conv2d", "picks this variant")
    subsampling: Literal[4, 6, 8] = doc(4, "time subsampling factor")
    channels: int = doc(64, "conv channels")
    output_dim: int = doc(256, "set to the Conformer's d_model to skip its input projection")
    dropout: float = doc(0.0, "after the output projection")


@dataclass(frozen=True)
class DwStridingFrontendConfig:
    """FastConformer's subsampling (Rekesh et al., 2023; NeMo's dw_striding): a stride-2
    Conv2d, then stride-2 depthwise-separable Conv2d stages, 3x3 kernels padded by 1."""

    type: Literal["dw_striding"] = doc("dw_striding", "picks this variant")
    subsampling: Literal[4, 8, 16] = doc(8, "time subsampling factor: one stage per factor 2")
    channels: int = doc(256, "conv channels (NeMo's FastConformer uses 256)")
    output_dim: int = doc(256, "set to the Conformer's d_model to skip its input projection")
    dropout: float = doc(0.0, "after the output projection")

    def __post_init__(self) -> None:
        if self.channels < 1:
            raise ValueError(f"frontend.channels must be >= 1, got {self.channels}")


@dataclass(frozen=True)
class LSTMStackConfig(EncoderConfig):
    """The keys of the LSTM encoders (:class:`BiLSTMConfig`, :class:`LSTMConfig`,
    :class:`LCBiLSTMConfig`); each gives ``type``, ``num_layers`` and ``hidden_size`` its
    own default and doc."""

    type: str
    num_layers: int
    hidden_size: int
    projection_size: int = doc(0, "0: no projection between layers")
    dropout: float = doc(0.1, "between layers")
    grad_filter: GradFilterConfig = field(default_factory=GradFilterConfig)


@dataclass(frozen=True)
class BiLSTMConfig(LSTMStackConfig):
    type: Literal["bilstm"] = doc("bilstm", "picks this variant")
    num_layers: int = doc(3, "BiLSTM layers")
    hidden_size: int = doc(256, "per direction")


@dataclass(frozen=True)
class LSTMConfig(LSTMStackConfig):
    """Unidirectional LSTM: every output frame sees only the past, so it streams as is."""

    type: Literal["lstm"] = doc("lstm", "picks this variant")
    num_layers: int = doc(4, "LSTM layers")
    hidden_size: int = doc(320, "cells per layer")

    @property
    def streams(self) -> bool:
        return True


@dataclass(frozen=True)
class ChunkConfig:
    """Chunked attention for streaming (WeNet's U2 dynamic chunk training).

    A frame attends to every frame of its own chunk and of ``left_chunks`` chunks before
    it; chunks are counted in encoder frames, after subsampling (x4 with a 10 ms shift:
    one frame is 40 ms, so 8 frames are a 320 ms chunk).
    """

    sizes: tuple[int, ...] = doc((), "chunk sizes (encoder frames) training draws from and "
                                     "streaming may decode with; empty: full context only")
    full_context_prob: float = doc(0.5, "share of training batches with full context, so one "
                                        "model also decodes whole utterances")
    left_chunks: int = doc(-1, "chunks of left context each chunk attends to; -1: unlimited")

    def __post_init__(self) -> None:
        if any(s < 1 for s in self.sizes):
            raise ValueError(f"encoder.chunk.sizes must be >= 1, got {list(self.sizes)}")
        if not 0.0 <= self.full_context_prob <= 1.0:
            raise ValueError("encoder.chunk.full_context_prob must be in [0, 1]")
        if self.left_chunks < -1:
            raise ValueError("encoder.chunk.left_chunks must be -1 (unlimited) or >= 0")


@dataclass(frozen=True)
class LCBiLSTMConfig(LSTMStackConfig):
    """Latency-controlled BiLSTM (Kaldi's chunked BLSTM, Zhang et al. 2016): per layer a
    forward LSTM over all of the past and a backward LSTM within each chunk, so a chunk's
    output waits for that chunk only. Trains on dynamic chunks as the Conformer does; at
    full context it is the BiLSTM."""

    type: Literal["lc_bilstm"] = doc("lc_bilstm", "picks this variant")
    num_layers: int = doc(2, "layers")
    hidden_size: int = doc(192, "per direction")
    chunk: ChunkConfig = field(default_factory=ChunkConfig)

    @property
    def chunk_sizes(self) -> tuple[int, ...]:
        return self.chunk.sizes

    def __post_init__(self) -> None:
        if self.chunk.left_chunks != -1:
            raise ValueError("encoder.chunk.left_chunks is for a Conformer's attention: an "
                             "lc_bilstm's forward LSTM carries all of the past (leave it -1)")


@dataclass(frozen=True)
class ConformerConfig(EncoderConfig):
    type: Literal["conformer"] = doc("conformer", "picks this variant")
    d_model: int = doc(144, "attention and feed-forward width")
    num_layers: int = doc(4, "Conformer blocks")
    num_heads: int = doc(4, "attention heads (d_model must divide by it)")
    ff_dim: int = doc(576, "inner size of each macaron feed-forward")
    kernel_size: int = doc(15, "depthwise conv over frames after subsampling (odd)")
    dropout: float = doc(0.1, "in every sub-module")
    attention_dropout: float = doc(0.1, "on the attention weights")
    grad_filter: GradFilterConfig = field(default_factory=lambda: GradFilterConfig(False))
    causal_conv: bool = doc(False, "depthwise conv over past frames only (needed to stream)")
    chunk: ChunkConfig = field(default_factory=ChunkConfig)

    @property
    def chunk_sizes(self) -> tuple[int, ...]:
        return self.chunk.sizes

    def __post_init__(self) -> None:
        if self.num_heads < 1 or self.d_model % self.num_heads:
            raise ValueError(f"encoder.d_model is {self.d_model} but encoder.num_heads is "
                             f"{self.num_heads}: each head takes d_model / num_heads "
                             "dimensions; pick num_heads >= 1 dividing d_model (or a d_model "
                             "that num_heads divides)")
        if self.chunk.sizes and not self.causal_conv:
            raise ValueError("encoder.chunk.sizes needs encoder.causal_conv: true (a centred "
                             "depthwise kernel reads frames of the next chunk)")


@dataclass(frozen=True)
class ModelConfig:
    frontend: StackFrontendConfig | Conv2dFrontendConfig | DwStridingFrontendConfig = field(
        default_factory=StackFrontendConfig)
    encoder: BiLSTMConfig | LSTMConfig | LCBiLSTMConfig | ConformerConfig = field(
        default_factory=BiLSTMConfig)
    interctc_layers: tuple[int, ...] = doc((), "encoder layers (1-based) whose output also "
                                               "goes through the CTC head for the "
                                               "intermediate CTC loss (loss.interctc_weight)")
    self_conditioning: bool = doc(False, "add a projection of each intermediate layer's CTC "
                                         "posteriors to its output before the next layer "
                                         "(Nozaki and Komatsu, 2021); also at decoding")

    def __post_init__(self) -> None:
        layers = self.encoder.num_layers
        if any(not 1 <= i < layers for i in self.interctc_layers) \
                or len(set(self.interctc_layers)) != len(self.interctc_layers):
            raise ValueError(f"model.interctc_layers is {list(self.interctc_layers)}: each must "
                             f"be a distinct encoder layer from 1 to {layers - 1} (the last, "
                             f"{layers}, is the final CTC output)")
        if self.self_conditioning and not self.interctc_layers:
            raise ValueError("model.self_conditioning needs model.interctc_layers: the layers "
                             "whose CTC posteriors condition the next")
        if self.self_conditioning and self.encoder.streams:
            raise ValueError("model.self_conditioning is for full-context encoders: streaming "
                             "(an lstm, or encoder.chunk.sizes) does not run the conditioning "
                             "layer on chunks yet")
        if self.encoder.chunk_sizes and self.frontend.type == "dw_striding":
            raise ValueError("a streaming encoder (encoder.chunk.sizes) needs a frontend "
                             "that runs on chunks: conv2d or stack (dw_striding pads in time)")
