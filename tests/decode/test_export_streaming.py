"""``asr export --streaming``: an utterance run chunk by chunk through the exported step
(TorchScript, onnxruntime), its caches fed back as the JSON beside it says, gives the
eager streaming path's log-probs (atol 1e-4), for a Conformer at a finite left context,
a unidirectional LSTM and a latency-controlled BiLSTM; utterances end in a partial chunk
or are shorter than one, down to fewer frames than the frontend reads (no output at all)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from asr.cli import main
from asr.config import save_config
from asr.config.model_schema import (
    ChunkConfig,
    ConformerConfig,
    Conv2dFrontendConfig,
    LCBiLSTMConfig,
    LSTMConfig,
    ModelConfig,
    StackFrontendConfig,
)
from asr.config.schema import DataConfig, ExperimentConfig
from asr.data.cmvn import GlobalCmvn
from asr.data.cmvn_stats import save_stats
from asr.data.features import log_noise_floor
from asr.exp.experiment import Experiment
from asr.nn.chunked_ctc import ChunkedCTC
from asr.testing import make_exp_dir

FEAT_DIM = 23  # make_exp_dir's fbank


def conformer(left_chunks: int) -> ConformerConfig:
    return ConformerConfig(d_model=16, num_layers=2, num_heads=2, ff_dim=32, kernel_size=5,
                           causal_conv=True, chunk=ChunkConfig((4, 8), left_chunks=left_chunks))


ENCODERS = {"conformer": conformer(2), "conformer_unlimited": conformer(-1),
            "lstm": LSTMConfig(num_layers=2, hidden_size=16),
            "lstm_proj": LSTMConfig(num_layers=2, hidden_size=16, projection_size=8),
            "lc_bilstm": LCBiLSTMConfig(num_layers=2, hidden_size=12, chunk=ChunkConfig((4, 8))),
            "lc_bilstm_proj": LCBiLSTMConfig(num_layers=2, hidden_size=12, projection_size=6,
                                             chunk=ChunkConfig((4, 8)))}
FRONTENDS = {"conv2d": Conv2dFrontendConfig(channels=8, output_dim=16),
             "stack": StackFrontendConfig(stack=4)}  # no feat_cache: R = S
# 150: full chunks then a partial one; 9 and 3: less than one chunk, 3 < the conv2d's 7
LENGTHS = (150, 9, 3)


def make_exp(path, encoder: str, frontend: str = "conv2d", cmvn: str = "global") -> Experiment:
    """An untrained streaming exp with global CMVN stats (made up: mean 1, variance 4)."""
    model = ModelConfig(frontend=FRONTENDS[frontend], encoder=ENCODERS[encoder])
    make_exp_dir(path, model)
    save_config(ExperimentConfig(model=model, data=DataConfig(cmvn=cmvn)), path / "config.yaml")
    count = 10.0
    save_stats(path / "cmvn.ark", np.array([[count] * FEAT_DIM + [count],
                                            [5.0 * count] * FEAT_DIM + [0.0]]))
    return Experiment.load(path)


def export(exp, fmt, out, *extra: str) -> int:
    return main(["export", "--exp-dir", str(exp.path), "--format", fmt, "--streaming",
                 "--chunk-ms", "160", "--out", str(out), *extra])


def eager(model, feats: torch.Tensor, chunk: int) -> np.ndarray:
    """The eager streaming path, fed in two uneven pieces."""
    run = ChunkedCTC(model, chunk)
    cut = feats.shape[0] // 3
    return torch.cat([run.accept(feats[:cut]), run.accept(feats[cut:]), run.finalize()]).numpy()


def drive(step, meta: dict, feats: np.ndarray) -> np.ndarray:
    """A runtime as the JSON describes it: zero caches, the feat_cache primed with the
    first frames, S*C frames per step (the last zero-padded), the new caches fed back."""
    n, vocab = meta["chunk_feature_frames"], meta["vocab_size"]
    caches = {s["name"]: np.zeros(s["shape"], s["dtype"]) for s in meta["inputs"][2:]}
    pos = 0
    if "feat_cache" in caches:
        overlap = len(caches["feat_cache"])
        if len(feats) < overlap:
            return np.zeros((0, vocab), np.float32)
        caches["feat_cache"], pos = feats[:overlap], overlap
    outs = []
    while pos < len(feats):
        chunk = feats[pos:pos + n]
        padded = np.concatenate([chunk, np.zeros((n - len(chunk), feats.shape[1]), np.float32)])
        res = step({"feats": padded[None], "num_frames": np.array([len(chunk)]), **caches})
        outs.append(res["log_probs"][0, :int(res["out_frames"][0])])
        caches = {name: res["new_" + name] for name in caches}
        pos += n
    return np.concatenate(outs) if outs else np.zeros((0, vocab), np.float32)


def torchscript_step(path, meta):
    module = torch.jit.load(str(path))
    in_names = [s["name"] for s in meta["inputs"]]
    out_names = [s["name"] for s in meta["outputs"]]

    def step(inputs: dict) -> dict:
        with torch.no_grad():
            outs = module(*(torch.from_numpy(np.asarray(inputs[k])) for k in in_names))
        return {k: v.numpy() for k, v in zip(out_names, outs, strict=True)}
    return step


def onnx_step(path, meta):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path))
    out_names = [s["name"] for s in meta["outputs"]]

    def step(inputs: dict) -> dict:
        return dict(zip(out_names, session.run(out_names, inputs), strict=True))
    return step


def check_against_eager(exp, model, out, make_step, chunk=4):
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["chunk_frames"] == chunk and meta["blank"] == 0
    step = make_step(out, meta)
    torch.manual_seed(1)
    for length in LENGTHS:
        feats = torch.randn(length, FEAT_DIM)
        want = eager(model, feats, chunk)
        got = drive(step, meta, feats.numpy())
        assert got.shape == want.shape, (length, got.shape, want.shape)
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    return meta


@pytest.mark.parametrize(("encoder", "frontend"), [
    ("conformer", "conv2d"), ("conformer", "stack"), ("lstm", "conv2d"), ("lstm_proj", "conv2d"),
    ("lc_bilstm", "conv2d"), ("lc_bilstm_proj", "stack")])
def test_torchscript_step_matches_eager_streaming(tmp_path, encoder, frontend):
    exp = make_exp(tmp_path / "exp", encoder, frontend)
    assert export(exp, "torchscript", tmp_path / "step.pt") == 0
    meta = check_against_eager(exp, exp.load_model(), tmp_path / "step.pt", torchscript_step)
    cmvn = GlobalCmvn(np.array([[10.0] * FEAT_DIM + [10.0], [50.0] * FEAT_DIM + [0.0]]))
    assert meta["cmvn"]["type"] == "global" and meta["cmvn"]["mean"] == cmvn.mean.tolist() == \
        [1.0] * FEAT_DIM
    assert meta["cmvn"]["inv_std"] == cmvn.inv_std.tolist() == [0.5] * FEAT_DIM
    assert meta["features"]["num_mel_bins"] == FEAT_DIM and len(meta["tokens"]) == \
        meta["vocab_size"]


def test_online_cmvn_is_described_in_the_json(tmp_path):
    """The step takes normalized features: the JSON gives what online CMVN needs."""
    exp = make_exp(tmp_path / "exp", "lstm", cmvn="online")
    assert export(exp, "torchscript", tmp_path / "step.pt") == 0
    meta = json.loads((tmp_path / "step.json").read_text())
    floor = log_noise_floor(Experiment.load(tmp_path / "exp").feats)
    assert meta["cmvn"] == {"type": "online", "window": 600, "prior_frames": 200,
                            "norm_vars": True, "prior_mean": [1.0] * FEAT_DIM,
                            "prior_mean_square": [5.0] * FEAT_DIM,
                            "speech_floor": floor.tolist(), "speech_margin": math.log(2.0)}
    assert meta["features"]["noise_floor"] == 0.1 and meta["features"]["silence_frames"] == 20


def test_left_chunks_gives_an_unlimited_model_a_fixed_maximum(tmp_path):
    """Equal to the eager model at that left context (the stream is longer than it)."""
    exp = make_exp(tmp_path / "exp", "conformer_unlimited")
    assert export(exp, "torchscript", tmp_path / "step.pt", "--left-chunks", "3") == 0
    model = exp.load_model()  # the same weights attending to 3 chunks
    model.encoder.chunk = dataclasses.replace(model.encoder.chunk, left_chunks=3)
    meta = check_against_eager(exp, model, tmp_path / "step.pt", torchscript_step)
    assert meta["left_chunks"] == 3
    assert meta["inputs"][3]["shape"] == [2, 2, 12, 8]  # att_k: layers, heads, 3 x 4, d_k


@pytest.mark.parametrize("encoder", ["lstm", "lc_bilstm", "conformer"])  # torch.export: ~3 s each
def test_onnx_step_matches_eager_streaming(tmp_path, encoder):
    exp = make_exp(tmp_path / "exp", encoder)
    assert export(exp, "onnx", tmp_path / "step.onnx") == 0
    check_against_eager(exp, exp.load_model(), tmp_path / "step.onnx", onnx_step)


@pytest.mark.parametrize(("encoder", "fmt", "extra", "cmvn", "expect"), [
    ("conformer_unlimited", "torchscript", (), "global",
     "attends to all of the past (encoder.chunk.left_chunks: -1)"),
    ("conformer", "torchscript", ("--left-chunks", "0"), "global", "--left-chunks must be >= 1"),
    ("lstm", "torchscript", ("--left-chunks", "2"), "global", "an LSTM has no attention cache"),
    ("lstm_proj", "onnx", (), "global", "ONNX's LSTM operator has no projections"),
    ("lc_bilstm_proj", "onnx", (), "global", "ONNX's LSTM operator has no projections"),
    ("lstm", "torchscript", (), "utterance", "streaming needs data.cmvn: global"),
])
def test_clear_errors(tmp_path, capsys, encoder, fmt, extra, cmvn, expect):
    """(A non-streaming exp, an untrained chunk size: tests/cli/test_cli_sweep.py.)"""
    exp = make_exp(tmp_path / "exp", encoder, cmvn=cmvn)
    assert export(exp, fmt, tmp_path / "step", *extra) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if "error" in ln]
    assert len(err) == 1 and err[0].startswith("asr export: error: ") and expect in err[0], err
    assert not (tmp_path / "step").exists()
