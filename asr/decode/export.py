"""Export a trained CTC model to TorchScript or ONNX for inference outside this package.

Exporters trace tensor code, so the inference graph is rebuilt from the same weights
without training-only parts: GradientFilter (an identity in forward) is dropped, and
the BiLSTM's packed sequences (which tracers and ONNX cannot follow) are replaced by an
equivalent computation on the padded batch: the forward direction runs over the padded
frames (padding only follows an utterance's frames, so it never reaches them), and the
backward direction runs over each utterance reversed within its own length. Outputs at
padded frames are zero, as pad_packed_sequence gives.

ONNX goes through torch.export (``torch.onnx.export(dynamo=True)``), with symbolic batch
and time axes, so the graph holds for any batch size and any length, 1 frame included.
The BiLSTM is the exception: torch.export (torch 2.11) unrolls ``nn.LSTM`` over the
example's frames, fixing the time axis, so it still goes through the TorchScript-based
exporter, which keeps LSTMs as ONNX LSTM operators of dynamic length.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import nn

from asr.atomic_io import atomic_write
from asr.decode.export_metadata import export_metadata
from asr.errors import AsrError
from asr.exp.experiment import Experiment
from asr.functional.lengths import make_pad_mask, reverse_within_lengths
from asr.nn.bilstm import BiLSTMEncoder
from asr.nn.conformer import ConformerEncoder
from asr.nn.lc_bilstm import LCBiLSTMEncoder
from asr.nn.model import CTCModel


def _direction(lstm: nn.LSTM, suffix: str) -> nn.LSTM:
    """One direction of a bidirectional single-layer ``lstm`` as a unidirectional LSTM."""
    one = nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=True,
                  proj_size=lstm.proj_size)
    with torch.no_grad():
        for name, _ in one.named_parameters():
            getattr(one, name).copy_(getattr(lstm, name + suffix))
    return one


class PaddedBiLSTM(nn.Module):
    """The inference graph of :class:`BiLSTMEncoder` on padded batches (same weights), and
    of :class:`LCBiLSTMEncoder` at full context (its forward and backward LSTMs as they are:
    whole utterances are one chunk)."""

    def __init__(self, encoder: BiLSTMEncoder | LCBiLSTMEncoder):
        super().__init__()
        if isinstance(encoder, LCBiLSTMEncoder):
            self.forward_lstms, self.backward_lstms = encoder.forward_lstms, encoder.backward_lstms
            return
        self.forward_lstms = nn.ModuleList(_direction(m, "") for m in encoder.lstms)
        self.backward_lstms = nn.ModuleList(_direction(m, "_reverse") for m in encoder.lstms)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        valid = ~make_pad_mask(lengths, x.shape[1])[..., None]  # (N, T, 1)
        for fwd, bwd in zip(self.forward_lstms, self.backward_lstms, strict=True):
            ahead = fwd(x)[0]
            back = reverse_within_lengths(bwd(reverse_within_lengths(x, lengths))[0], lengths)
            x = torch.cat([ahead, back], dim=-1) * valid
        return x, lengths


def inference_model(model: CTCModel) -> CTCModel:
    """An exportable copy of ``model`` (eval mode) computing the same log-probs."""
    # the Conformer traces as it is: its GradientFilters stand aside without gradients
    encoders = {BiLSTMEncoder: PaddedBiLSTM, LCBiLSTMEncoder: PaddedBiLSTM,
                ConformerEncoder: lambda e: e}
    make = encoders.get(type(model.encoder))
    if make is None:
        raise AsrError(f"no export path for encoder {type(model.encoder).__name__}")
    return CTCModel(model.frontend, make(model.encoder), model.head).eval()


def example_inputs(feat_dim: int, lengths: tuple[int, ...] = (160, 97, 130)
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch for tracing; unequal lengths, so that no length is baked into the graph."""
    lens = torch.tensor(lengths)
    return torch.randn(len(lengths), max(lengths), feat_dim), lens


def export_torchscript(model: CTCModel, feat_dim: int, out: Path) -> None:
    """Trace on a batch of unequal lengths; batch size and length stay dynamic."""
    net = inference_model(model)
    with torch.no_grad():
        traced = torch.jit.trace(net, example_inputs(feat_dim))
    atomic_write(Path(out), lambda f: torch.jit.save(traced, f))


ONNX_OPSET = 18  # the dynamo exporter's own opset; onnxruntime >= 1.14 runs it
ONNX_NAMES = {"input_names": ["feats", "lengths"], "output_names": ["log_probs", "out_lengths"]}


def export_onnx(model: CTCModel, feat_dim: int, out: Path) -> None:
    """ONNX with dynamic batch and time axes: feats (N, T, D), lengths (N,) -> log_probs
    (N, T', V), out_lengths (N,)."""
    if isinstance(model.encoder, BiLSTMEncoder | LCBiLSTMEncoder) \
            and model.encoder.state_dim != model.encoder.hidden_size:
        raise AsrError("ONNX's LSTM operator has no projections: a BiLSTM with "
                       "encoder.projection_size > 0 exports to TorchScript only")
    net = inference_model(model)
    with torch.no_grad():
        if isinstance(model.encoder, BiLSTMEncoder | LCBiLSTMEncoder):
            data = _torchscript_onnx(net, feat_dim)
        else:
            batch, time = torch.export.Dim("batch"), torch.export.Dim("time")
            program = torch.onnx.export(
                net, example_inputs(feat_dim), dynamo=True, opset_version=ONNX_OPSET,
                dynamic_shapes={"feats": {0: batch, 1: time}, "lengths": {0: batch}},
                verbose=False, **ONNX_NAMES)
            data = program.model_proto.SerializeToString()
    atomic_write(Path(out), lambda f: f.write(data))


def _torchscript_onnx(net: nn.Module, feat_dim: int) -> bytes:
    """The TorchScript-based exporter (see the module docstring for why the BiLSTM needs it)."""
    buf = io.BytesIO()
    torch.onnx.export(net, example_inputs(feat_dim), buf, opset_version=17, dynamo=False,
                      dynamic_axes={"feats": {0: "batch", 1: "time"}, "lengths": {0: "batch"},
                                    "log_probs": {0: "batch", 1: "frames"},
                                    "out_lengths": {0: "batch"}}, **ONNX_NAMES)
    return buf.getvalue()


def offline_metadata(exp: Experiment, model: CTCModel, fmt: str) -> dict:
    """The JSON beside an offline export (:func:`asr.decode.export_metadata.export_metadata`
    plus its inputs and outputs; -1 marks a dynamic axis)."""
    vocab, dim = exp.tokenizer.vocab_size, exp.feats.num_mel_bins
    return export_metadata(exp, fmt, {
        "subsampling": exp.config.model.frontend.subsampling
        if exp.config.model.frontend.type != "stack" else exp.config.model.frontend.stack,
        "inputs": [{"name": "feats", "shape": [-1, -1, dim], "dtype": "float32"},
                   {"name": "lengths", "shape": [-1], "dtype": "int64"}],
        "outputs": [{"name": "log_probs", "shape": [-1, -1, vocab], "dtype": "float32"},
                    {"name": "out_lengths", "shape": [-1], "dtype": "int64"}]})
