"""Exported models (TorchScript, ONNX) give the eager model's log-probs on batches whose
size and lengths differ from the one the exporter traced, down to 1 utterance and to
inputs too short for the conv2d frontend's kernels (3 frames: output length 0)."""


import numpy as np
import pytest
import torch

from asr.cli import main
from asr.config.model_schema import (
    BiLSTMConfig,
    ChunkConfig,
    ConformerConfig,
    Conv2dFrontendConfig,
    DwStridingFrontendConfig,
    LCBiLSTMConfig,
    ModelConfig,
)
from asr.exp.experiment import Experiment
from asr.functional.lengths import reverse_within_lengths
from asr.testing import make_exp_dir

ENCODERS = {
    "bilstm": BiLSTMConfig(num_layers=2, hidden_size=24),
    "bilstm_proj": BiLSTMConfig(num_layers=2, hidden_size=24, projection_size=16),
    "lc_bilstm": LCBiLSTMConfig(num_layers=2, hidden_size=12, chunk=ChunkConfig((4,))),
    "conformer": ConformerConfig(d_model=32, num_layers=2, num_heads=4, ff_dim=64,
                                 kernel_size=5),
}


FRONTENDS = {"conv2d": Conv2dFrontendConfig(channels=8, output_dim=32),
             "dw_striding": DwStridingFrontendConfig(channels=8, output_dim=32)}


def make_exp(path, encoder, frontend="conv2d"):
    """An exp dir with a randomly initialized model (weights need not be trained here)."""
    model = ModelConfig(frontend=FRONTENDS[frontend], encoder=ENCODERS[encoder])
    return Experiment.load(make_exp_dir(path, model))


# not the traced batch; 9 frames -> 1 output frame, 7 the fewest the kernels take
BATCHES = [(45, 200, 9, 131, 77), (3,), (7, 3), (200, 7, 3), (1, 2)]


def eager_and_batch(exp, lengths=BATCHES[0]):
    torch.manual_seed(1)
    lens = torch.tensor(lengths)
    feats = torch.randn(len(lengths), max(lengths), exp.feats.num_mel_bins)
    with torch.no_grad():
        log_probs, out_lens = exp.load_model()(feats, lens)
    mask = torch.arange(log_probs.shape[1])[None] < out_lens[:, None]
    return feats, lens, log_probs, out_lens, mask


def asr_export(exp_dir, fmt, out):
    """``asr export`` in this process (a subprocess would re-import torch each time)."""
    return main(["export", "--exp-dir", str(exp_dir), "--format", fmt, "--out", str(out)])


@pytest.mark.parametrize(("encoder", "frontend"), [
    ("bilstm", "conv2d"), ("bilstm_proj", "conv2d"), ("lc_bilstm", "conv2d"),
    ("conformer", "conv2d"), ("conformer", "dw_striding")])
def test_torchscript_export_matches_eager(tmp_path, encoder, frontend):
    exp = make_exp(tmp_path / "exp", encoder, frontend)
    assert asr_export(exp.path, "torchscript", tmp_path / "m.pt") == 0
    loaded = torch.jit.load(str(tmp_path / "m.pt"))
    for lengths in BATCHES:
        feats, lens, want, want_lens, mask = eager_and_batch(exp, lengths)
        with torch.no_grad():
            got, got_lens = loaded(feats, lens)
        assert got.shape == want.shape and torch.equal(got_lens, want_lens), lengths
        torch.testing.assert_close(got[mask], want[mask], atol=1e-4, rtol=0)


@pytest.mark.slow  # torch.export + the ONNX optimizer passes: ~10 s per Conformer on 2 cores
@pytest.mark.parametrize(("encoder", "frontend"), [
    ("bilstm", "conv2d"), ("lc_bilstm", "conv2d"), ("conformer", "conv2d"),
    ("conformer", "dw_striding")])
def test_onnx_export_matches_eager(tmp_path, encoder, frontend):
    import onnxruntime

    exp = make_exp(tmp_path / "exp", encoder, frontend)
    assert asr_export(exp.path, "onnx", tmp_path / "m.onnx") == 0
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    for lengths in BATCHES:
        feats, lens, want, want_lens, mask = eager_and_batch(exp, lengths)
        got, got_lens = session.run(None, {"feats": feats.numpy(), "lengths": lens.numpy()})
        assert got.shape == want.shape and np.array_equal(got_lens, want_lens.numpy()), lengths
        np.testing.assert_allclose(got[mask.numpy()], want[mask].numpy(), atol=1e-4, rtol=0)


def test_reverse_within_lengths_keeps_padding_in_place():
    x = torch.arange(12.0).view(2, 3, 2)
    rev = reverse_within_lengths(x, torch.tensor([2, 3]))
    assert rev[0].tolist() == [[2, 3], [0, 1], [4, 5]] and rev[1].tolist() == x[1].flip(0).tolist()


def test_clear_error_for_projected_lstm_onnx(tmp_path, capsys):
    """(A missing exp dir and other bad inputs: tests/cli/test_cli_sweep.py.)"""
    exp = make_exp(tmp_path / "exp", "bilstm_proj")
    assert asr_export(exp.path, "onnx", tmp_path / "m.onnx") == 2
    assert "asr export: error: ONNX's LSTM operator has no projections" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()
