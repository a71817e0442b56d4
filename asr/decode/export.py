"""Export a trained CTC model to TorchScript or ONNX for inference outside this package.

Exporters trace tensor code, so the inference graph is rebuilt from the same weights
without training-only parts: the encoder gives its export graph
(:meth:`asr.nn.encoder.Encoder.export_graph`; the LSTMs' runs on padded batches without
packed sequences), and GradientFilters stand aside without gradients.

ONNX goes through torch.export (``torch.onnx.export(dynamo=True)``), with symbolic batch
and time axes, so the graph holds for any batch size and any length, 1 frame included.
LSTM encoders are the exception (``onnx_exporter = "torchscript"``): torch.export (torch
2.11) unrolls ``nn.LSTM`` over the example's frames, fixing the time axis, so they go
through the TorchScript-based exporter, which keeps LSTMs as ONNX LSTM operators of
dynamic length.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from asr.atomic_io import atomic_write
from asr.decode.export_metadata import export_metadata
from asr.errors import AsrError
from asr.exp.experiment import Experiment
from asr.nn.model import CTCModel


def inference_model(model: CTCModel) -> CTCModel:
    """An exportable copy of ``model`` (eval mode) computing the same log-probs."""
    return CTCModel(model.frontend, model.encoder.export_graph(), model.head).eval()


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


def export_onnx(model: CTCModel, feat_dim: int, out: Path,
                wrap: Callable[[CTCModel], nn.Module] | None = None,
                names: dict[str, list[str]] | None = None) -> None:
    """ONNX with dynamic batch and time axes: feats (N, T, D), lengths (N,) -> log_probs
    (N, T', V), out_lengths (N,). ``wrap`` puts the inference model inside another module
    of the same inputs and outputs (sherpa-onnx's CMVN in front, say), ``names`` renames
    them (``input_names``, ``output_names``)."""
    refusal = model.encoder.export_refusal("onnx")
    if refusal:
        raise AsrError(refusal)
    net = inference_model(model)
    if wrap is not None:
        net = wrap(net).eval()
    names = names or ONNX_NAMES
    with torch.no_grad():
        if model.encoder.onnx_exporter == "torchscript":
            data = _torchscript_onnx(net, feat_dim, names)
        else:
            batch, time = torch.export.Dim("batch"), torch.export.Dim("time")
            program = torch.onnx.export(
                net, example_inputs(feat_dim), dynamo=True, opset_version=ONNX_OPSET,
                dynamic_shapes=({0: batch, 1: time}, {0: batch}), verbose=False, **names)
            data = program.model_proto.SerializeToString()
    atomic_write(Path(out), lambda f: f.write(data))


def _torchscript_onnx(net: nn.Module, feat_dim: int, names: dict[str, list[str]]) -> bytes:
    """The TorchScript-based exporter (see the module docstring for why LSTMs need it)."""
    buf = io.BytesIO()
    (feats, lengths), (log_probs, out_lengths) = names["input_names"], names["output_names"]
    torch.onnx.export(net, example_inputs(feat_dim), buf, opset_version=17, dynamo=False,
                      dynamic_axes={feats: {0: "batch", 1: "time"}, lengths: {0: "batch"},
                                    log_probs: {0: "batch", 1: "frames"},
                                    out_lengths: {0: "batch"}}, **names)
    return buf.getvalue()


def quantize_int8(src: Path, dst: Path) -> None:
    """onnxruntime's dynamic int8 quantization of the weights of ``src`` into ``dst``."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)  # it logs a line per tensor it leaves in float
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)


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
