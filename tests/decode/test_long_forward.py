"""Utterances too long to run whole go through the model in windows: the window
bookkeeping gives the whole forward's frames where the context covers everything, the
output length is the model's for any window size, and a decode and an alignment of a long
recording run through it."""

import pytest
import torch
from test_streaming_recognizer import streaming_exp

from asr.cli import main
from asr.config.model_schema import (
    BiLSTMConfig,
    ConformerConfig,
    Conv2dFrontendConfig,
    LSTMConfig,
    ModelConfig,
    StackFrontendConfig,
)
from asr.data.ctm import read_ctm
from asr.decode import long_forward
from asr.decode.long_forward import batch_log_probs, windowed_log_probs
from asr.nn.registry import build_model

MODELS = {
    "conv2d-bilstm": ModelConfig(frontend=Conv2dFrontendConfig(channels=4, output_dim=16),
                                 encoder=BiLSTMConfig(num_layers=1, hidden_size=8)),
    "stack-lstm": ModelConfig(frontend=StackFrontendConfig(stack=3),
                              encoder=LSTMConfig(num_layers=1, hidden_size=8)),
    "conv2d-conformer": ModelConfig(
        frontend=Conv2dFrontendConfig(channels=4, output_dim=16, subsampling=6),
        encoder=ConformerConfig(d_model=16, num_layers=1, num_heads=2, ff_dim=16,
                                kernel_size=3)),
}


def model_of(name: str):
    torch.manual_seed(0)
    return build_model(MODELS[name], 20, 7).eval()


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("frames", [7, 50, 333, 1001])
@torch.no_grad()
def test_windows_with_all_the_context_are_the_whole_forward(name, frames):
    model = model_of(name)
    x = torch.randn(frames, 20)
    whole, n = model(x[None], torch.tensor([frames]))
    for window in (1, 8, 37, 400):
        out = windowed_log_probs(model, x, window=window, context=frames)
        assert out.shape[0] == int(n[0]) == model.output_length(frames)
        torch.testing.assert_close(out, whole[0, :int(n[0])], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", MODELS)
@torch.no_grad()
def test_short_context_keeps_the_length_and_a_long_one_runs_alone(name, monkeypatch):
    model = model_of(name)
    xs = [torch.randn(t, 20) for t in (40, 1500, 90)]
    for window, context in ((64, 0), (100, 10), (999, 5)):
        out = windowed_log_probs(model, xs[1], window=window, context=context)
        assert out.shape == (model.output_length(1500), 7)
        assert torch.allclose(out.exp().sum(-1), torch.ones(out.shape[0]), atol=1e-4)
    monkeypatch.setattr(long_forward, "LONG_UTTERANCE_FRAMES", 1000)
    lp, lens = batch_log_probs(model, xs, "cpu")
    assert lens.tolist() == [model.output_length(t) for t in (40, 1500, 90)]
    for i, x in enumerate(xs):  # each as if decoded alone
        alone, _ = batch_log_probs(model, [x], "cpu")
        torch.testing.assert_close(lp[i, :int(lens[i])], alone[0], atol=1e-5, rtol=1e-5)


def test_a_long_recording_decodes_and_aligns_in_windows(tmp_path, monkeypatch):
    """Three utterances joined into one recording, with windows of 50 frames: decode and
    align give every word a time inside the recording, in order."""
    import numpy as np
    import soundfile

    from asr.data.kaldi_dir import read_kv, write_data_dir

    exp, data = streaming_exp(tmp_path)
    audio = np.concatenate([soundfile.read(p, dtype="int16")[0]
                            for p in read_kv(data / "wav.scp").values()])
    text = " ".join(read_kv(data / "text").values())
    long_dir = tmp_path / "long"
    (long_dir / "wav").mkdir(parents=True)
    soundfile.write(long_dir / "wav" / "rec.wav", audio, 8000, subtype="PCM_16")
    write_data_dir(long_dir, {"rec": str(long_dir / "wav" / "rec.wav")}, {"rec": text},
                   {"rec": "spk"})
    monkeypatch.setattr(long_forward, "LONG_UTTERANCE_FRAMES", 100)
    monkeypatch.setattr(long_forward, "WINDOW_FRAMES", 50)
    seconds = audio.size / 8000
    assert seconds * 1000 / 10 > 200  # several windows
    for command in ("align", "decode"):
        out = tmp_path / command
        extra = ["--ctm"] if command == "decode" else []
        assert main([command, "--exp-dir", str(exp), "--data-dir", str(long_dir),
                     "--out", str(out), *extra]) == 0
        words = read_ctm(out / "ctm").get("rec", [])
        if command == "align":
            assert [w.word for w in words] == text.split()
        assert all(0 <= w.start <= w.end <= seconds + 0.05 for w in words)
        assert [w.start for w in words] == sorted(w.start for w in words)
