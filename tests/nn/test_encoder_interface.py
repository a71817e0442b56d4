"""A new encoder type gets streaming, both exports and ``train.init_from`` by implementing
:class:`asr.nn.encoder.Encoder` and one registry line, nothing else touched."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from asr.config.model_schema import StackFrontendConfig
from asr.decode.export import export_onnx, export_torchscript
from asr.decode.export_step import export_streaming, streaming_step
from asr.exp.checkpoint_file import save_checkpoint
from asr.nn.chunked_ctc import ChunkedCTC, streamable_chunk_sizes
from asr.nn.ctc_head import CTCHead
from asr.nn.encoder import CacheSpec, Encoder, ExportStep
from asr.nn.frontend import StackFrontend
from asr.nn.model import CTCModel
from asr.nn.registry import ENCODERS
from asr.train.resume import init_parameters

FEAT_DIM, VOCAB, CONTEXT = 6, 5, 2


class CausalConvStep(ExportStep):
    """The toy's chunk on a fixed-shape cache: the last CONTEXT input frames."""

    def __init__(self, encoder: CausalConvEncoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, x, out_frames, past):
        # the padded frames of a last chunk are never read by a real one: causal
        y, _ = self.encoder.forward_chunk(x, [past[None]], 0)
        return y, torch.cat([past, x[0]])[-CONTEXT:]

    def cache_specs(self) -> list[CacheSpec]:
        return [("past", (CONTEXT, self.encoder.input_dim), torch.float32)]


class CausalConvEncoder(Encoder):
    """(N, T, D) -> (N, T, H): a causal conv over the frame and the CONTEXT before it."""

    def __init__(self, input_dim: int, hidden: int = 8):
        super().__init__()
        self.input_dim, self.output_dim = input_dim, hidden
        self.conv = nn.Conv1d(input_dim, hidden, CONTEXT + 1)

    def forward(self, x, lengths, after_layer=None):
        y = self.conv(F.pad(x.transpose(1, 2), (CONTEXT, 0))).transpose(1, 2)
        return torch.tanh(y), lengths

    def streaming_chunk_sizes(self):
        return None

    def init_state(self, device="cpu"):
        return [torch.zeros(1, CONTEXT, self.input_dim, device=device)]

    def forward_chunk(self, x, state, chunk_size, num_frames=None):
        z = torch.cat([state[0], x], dim=1)  # (1, CONTEXT + C, D)
        y = torch.tanh(self.conv(z.transpose(1, 2)).transpose(1, 2))
        return y, [z[:, -CONTEXT:]]

    def export_step(self, chunk_size, left_chunks=None):
        return CausalConvStep(self)

    def adopt_weights(self, source, prefix="encoder."):
        """An older release named the conv's tensors ``kernel`` and ``offset``."""
        names = {"kernel": "conv.weight", "offset": "conv.bias"}
        return {prefix + names[k[len(prefix):]]: v for k, v in source.items()
                if k[len(prefix):] in names}


@pytest.fixture
def model(monkeypatch):
    monkeypatch.setitem(ENCODERS, "causal_conv", CausalConvEncoder)  # the registry line
    torch.manual_seed(0)
    frontend = StackFrontend(FEAT_DIM, StackFrontendConfig(stack=2))
    encoder = ENCODERS["causal_conv"](frontend.output_dim)
    return CTCModel(frontend, encoder, CTCHead(encoder.output_dim, VOCAB)).eval()


def test_streams_chunk_by_chunk_as_the_full_forward(model):
    assert streamable_chunk_sizes(model) is None
    feats = torch.randn(37, FEAT_DIM)
    with torch.no_grad():
        want = model(feats[None], torch.tensor([37]))[0][0]
    run = ChunkedCTC(model, 3)
    got = torch.cat([run.accept(feats[:5]), run.accept(feats[5:20]), run.accept(feats[20:]),
                     run.finalize()])
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_offline_export_runs_as_eager(model, tmp_path, fmt):
    feats, lens = torch.randn(2, 30, FEAT_DIM), torch.tensor([30, 21])
    with torch.no_grad():
        want = model(feats, lens)[0]
    if fmt == "torchscript":
        export_torchscript(model, FEAT_DIM, tmp_path / "m.pt")
        got = torch.jit.load(str(tmp_path / "m.pt"))(feats, lens)[0]
    else:
        import onnxruntime

        export_onnx(model, FEAT_DIM, tmp_path / "m.onnx")
        session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
        got = torch.from_numpy(session.run(["log_probs"], {"feats": feats.numpy(),
                                                            "lengths": lens.numpy()})[0])
    torch.testing.assert_close(got[0], want[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(got[1, :11], want[1, :11], atol=1e-5, rtol=0)


def test_streaming_export_steps_as_eager(model, tmp_path):
    step = streaming_step(model, chunk_size=4)
    meta_path = export_streaming(step, FEAT_DIM, "torchscript", tmp_path / "step.pt", {})
    meta = json.loads(meta_path.read_text())
    assert meta["encoder"] == "causal_conv" and meta["chunk_feature_frames"] == 8
    assert meta["inputs"][2] == {"name": "past", "shape": [CONTEXT, 2 * FEAT_DIM],
                                 "dtype": "float32"}
    traced = torch.jit.load(str(tmp_path / "step.pt"))
    feats = torch.randn(45, FEAT_DIM)
    run = ChunkedCTC(model, 4)
    want = torch.cat([run.accept(feats), run.finalize()])
    past, outs = torch.zeros(CONTEXT, 2 * FEAT_DIM), []
    with torch.no_grad():
        for start in range(0, 45, 8):
            chunk = feats[start:start + 8]
            padded = torch.cat([chunk, torch.zeros(8 - len(chunk), FEAT_DIM)])[None]
            log_probs, out_frames, past = traced(padded, torch.tensor([len(chunk)]), past)
            outs.append(log_probs[0, :int(out_frames[0])])
    torch.testing.assert_close(torch.cat(outs), want, atol=1e-5, rtol=0)


def test_init_from_adopts_the_old_names(model, tmp_path):
    old = {"encoder.kernel": torch.full_like(model.encoder.conv.weight, 0.25),
           "encoder.offset": torch.full_like(model.encoder.conv.bias, -1.0),
           "head.proj.weight": torch.ones_like(model.head.proj.weight)}
    save_checkpoint(tmp_path / "old.pt", {"model": old})
    bias = model.head.proj.bias.detach().clone()
    init_parameters(model, tmp_path / "old.pt")
    assert torch.equal(model.encoder.conv.weight, old["encoder.kernel"])
    assert torch.equal(model.encoder.conv.bias, old["encoder.offset"])
    assert torch.equal(model.head.proj.weight, old["head.proj.weight"])
    assert torch.equal(model.head.proj.bias, bias)  # not in the file: as it was
