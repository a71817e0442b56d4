"""Export a streaming model as one step function with its caches as explicit, fixed-shape
inputs and outputs (TorchScript or ONNX), and a JSON beside it that says how to drive it.

One step takes the next ``S x C`` feature frames (C encoder frames of a chunk, S the
frontend's stride) and the caches, and gives the chunk's log-probs and the new caches::

    step(feats (1, S*C, D), num_frames (1,), *caches) -> (log_probs (1, C, V),
                                                           out_frames (1,), *new_caches)

Every shape is static, as in WeNet's and NeMo's cache-aware exports, so a runtime
allocates the caches once and feeds the new ones back:

- ``feat_cache`` (R - S, D): the frontend's input overlap (R its receptive field). Output
  frame u reads input frames [S u, S u + R), so a chunk's C frames read the R - S frames
  before its S*C new ones. It starts as the utterance's first R - S frames (not zeros:
  the first output frame reads frames 0 .. R - 1); absent when R = S (frame stacking).
- ``att_k``, ``att_v`` (layers, H, L, d_k), L = left_chunks x C: the attention keys and
  values of the last L frames, right-aligned; ``att_len`` (1,) how many of them are real
  (0 at the start, then C more per chunk up to L). The slots before them are masked, and
  relative positions depend on distances only, so a padded cache attends as the
  eager one of ``att_len`` frames does.
- ``conv_cache`` (layers, D, kernel_size - 1): the causal depthwise conv's past input.
- an LSTM's ``h`` (layers, 1, P) and ``c`` (layers, 1, H) (of the forward LSTMs of a
  latency-controlled BiLSTM, whose backward LSTMs start afresh in every chunk).

``num_frames`` counts the real frames in ``feats``: S*C except in the last step, whose
frames are zero-padded to S*C. ``out_frames`` is how many of the C log-prob frames are
real (fewer only in the last step). A step with fewer than S*C frames ends the stream:
its new caches are not the caches of a continuing stream.

An unlimited left context (``left_chunks: -1``) grows the attention cache with the stream
and has no static shape: refused, unless the export is given a fixed maximum.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from asr.atomic_io import atomic_write
from asr.decode.export import ONNX_OPSET
from asr.decode.export_metadata import export_metadata
from asr.decode.recognizer import chunk_frames, streaming_cmvn
from asr.errors import AsrError
from asr.exp.experiment import Experiment
from asr.nn.encoder import CacheSpec
from asr.nn.model import CTCModel
from asr.nn.registry import encoder_name

INPUTS = ("feats", "num_frames")
OUTPUTS = ("log_probs", "out_frames")


class StreamingStep(nn.Module):
    """The model's step: the frontend on the chunk's frames after its cached overlap, the
    encoder's export step (:meth:`asr.nn.encoder.Encoder.export_step`), the CTC head."""

    def __init__(self, model: CTCModel, chunk_size: int, left_chunks: int | None = None):
        super().__init__()
        self.frontend, self.head = model.frontend, model.head
        self.encoder_step = model.encoder.export_step(chunk_size, left_chunks)
        self.encoder_name = encoder_name(model.encoder)
        self.chunk = chunk_size
        self.field, self.stride = model.frontend.time_window()
        self.overlap = self.field - self.stride  # the feat_cache's frames

    def forward(self, feats: torch.Tensor, num_frames: torch.Tensor, *caches: torch.Tensor
                ) -> tuple[torch.Tensor, ...]:
        feat_cache = caches[0] if self.overlap else None
        y, out_frames, new_feat = self.frontend_step(feats, num_frames, feat_cache)
        x, *new = self.encoder_step(y, out_frames, *caches[1 if self.overlap else 0:])
        return (self.head(x), out_frames, *((new_feat,) if self.overlap else ()), *new)

    def frontend_step(self, feats: torch.Tensor, num_frames: torch.Tensor,
                      feat_cache: torch.Tensor | None
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """feats (1, S*C, D) -> frames (1, C, D'), out_frames (1,), the next feat_cache."""
        valid = torch.arange(feats.shape[1], device=feats.device) < num_frames  # (S*C,)
        feats = feats * valid[None, :, None]  # the last step's padding: zeros, as in eager
        if feat_cache is None:
            x, new_cache = feats, None
        else:
            x = torch.cat([feat_cache[None], feats], dim=1)  # (1, R - S + S*C, D)
            new_cache = x[0, x.shape[1] - self.overlap:]
        y, out_frames = self.frontend(x, num_frames + self.overlap)
        return y[:, :self.chunk], out_frames.clamp(max=self.chunk), new_cache


def streaming_step(model: CTCModel, chunk_size: int, left_chunks: int | None = None
                   ) -> StreamingStep:
    """The step module (eval mode) for chunks of ``chunk_size`` encoder frames;
    ``left_chunks`` replaces a Conformer's trained ``chunk.left_chunks`` (a fixed maximum
    where that is -1). ValueError for a model or setting that cannot be exported."""
    return StreamingStep(model.eval(), chunk_size, left_chunks).eval()


def cache_specs(step: StreamingStep, feat_dim: int
                ) -> list[CacheSpec]:
    """(name, shape, dtype) of every cache, in the step's argument order."""
    feat = [("feat_cache", (step.overlap, feat_dim), torch.float32)] if step.overlap else []
    return feat + step.encoder_step.cache_specs()


def example_step_inputs(step: StreamingStep, feat_dim: int
                        ) -> tuple[torch.Tensor, ...]:
    """A full chunk and zero caches (att_len 0), for tracing."""
    n = step.stride * step.chunk
    caches = [torch.zeros(shape, dtype=dtype) for _, shape, dtype in cache_specs(step, feat_dim)]
    return (torch.randn(1, n, feat_dim), torch.tensor([n]), *caches)


def step_metadata(step: StreamingStep, feat_dim: int, fmt: str,
                  extra: dict) -> dict:
    """What a runtime needs to drive the step (the JSON written beside it)."""
    specs = cache_specs(step, feat_dim)
    n = step.stride * step.chunk
    vocab = step.head.proj.out_features
    return {
        "format": fmt,
        "encoder": step.encoder_name,
        "chunk_frames": step.chunk,
        "chunk_feature_frames": n,
        "subsampling": step.stride,
        "receptive_field": step.field,
        **step.encoder_step.metadata(),
        "vocab_size": vocab,
        "blank": 0,
        "inputs": [{"name": "feats", "shape": [1, n, feat_dim], "dtype": "float32"},
                   {"name": "num_frames", "shape": [1], "dtype": "int64"}]
        + [{"name": name, "shape": list(shape), "dtype": str(dtype).removeprefix("torch.")}
           for name, shape, dtype in specs],
        "outputs": [{"name": "log_probs", "shape": [1, step.chunk, vocab], "dtype": "float32"},
                    {"name": "out_frames", "shape": [1], "dtype": "int64"}]
        + [{"name": "new_" + name, "shape": list(shape),
            "dtype": str(dtype).removeprefix("torch.")} for name, shape, dtype in specs],
        "cache_init": {name: ("first_frames" if name == "feat_cache" else "zeros")
                       for name, _, _ in specs},
        **extra,
    }


def export_streaming(step: StreamingStep, feat_dim: int, fmt: str, out: Path,
                     extra: dict) -> Path:
    """Write the step to ``out`` (TorchScript or ONNX) and its metadata to ``out``.json;
    returns the metadata's path."""
    out = Path(out)
    names = [name for name, _, _ in cache_specs(step, feat_dim)]
    inputs = example_step_inputs(step, feat_dim)
    with torch.no_grad():
        if fmt == "torchscript":
            traced = torch.jit.trace(step, inputs)
            atomic_write(out, lambda f: torch.jit.save(traced, f))
        else:
            data = _onnx_bytes(step, inputs, names)
            atomic_write(out, lambda f: f.write(data))
    meta_path = out.with_suffix(".json")
    meta = json.dumps(step_metadata(step, feat_dim, fmt, extra), indent=1) + "\n"
    atomic_write(meta_path, lambda f: f.write(meta.encode()))
    return meta_path


def _onnx_bytes(step: nn.Module, inputs: tuple[torch.Tensor, ...], names: list[str]) -> bytes:
    """All shapes are static, so both exporters apply; the current one (torch.export)
    unrolls an LSTM over the chunk's frames, which is fine at a fixed chunk size."""
    io_names = {"input_names": [*INPUTS, *names],
                "output_names": [*OUTPUTS, *("new_" + n for n in names)]}
    program = torch.onnx.export(step, inputs, dynamo=True, opset_version=ONNX_OPSET,
                                verbose=False, **io_names)
    return program.model_proto.SerializeToString()


def export_experiment_streaming(exp: Experiment, model: CTCModel, fmt: str, out: Path,
                                chunk_ms: float, left_chunks: int | None = None) -> Path:
    """``asr export --streaming``: the step for ``chunk_ms`` chunks (a size the model was
    trained for) and a JSON with the features, the CMVN and the tokens; AsrErrors
    name the exp. Returns the JSON's path."""
    chunk = chunk_frames(exp, model, chunk_ms)  # refuses non-streaming models and sizes
    streaming_cmvn(exp)  # refuses per-utterance and per-speaker CMVN
    if left_chunks is not None and left_chunks < 1:
        raise AsrError(f"--left-chunks must be >= 1, got {left_chunks}")
    try:
        step = streaming_step(model, chunk, left_chunks)
    except ValueError as e:
        raise AsrError(f"{exp.path}: {e}") from None
    refusal = model.encoder.export_refusal(fmt)
    if refusal:
        raise AsrError(refusal)
    extra = export_metadata(exp, fmt, {"chunk_ms": chunk_ms})
    return export_streaming(step, exp.feats.num_mel_bins, fmt, out, extra)
