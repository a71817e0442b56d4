"""Dynamic chunk training through the real loop: deterministic and exactly resumable (the
chunk draws come from the checkpointed RNG), and its exp streams."""

from pathlib import Path

import pytest
import torch

from asr.config import load_config
from asr.config.schema import ExperimentConfig
from asr.decode.recognizer import StreamingRecognizer, decode_recognizer
from asr.exp.experiment import Experiment
from asr.testing import make_train_corpus
from asr.train.checkpoint import load_checkpoint
from asr.train.runner import run

pytestmark = pytest.mark.slow  # trains models

REPO = Path(__file__).resolve().parents[2]
OVERRIDES = ["model.frontend.type=conv2d", "model.frontend.channels=4",
             "model.frontend.output_dim=16", "model.encoder.type=conformer",
             "model.encoder.d_model=16", "model.encoder.num_layers=1",
             "model.encoder.num_heads=2", "model.encoder.ff_dim=32",
             "model.encoder.kernel_size=5", "model.encoder.causal_conv=true",
             "model.encoder.chunk.sizes=[2,4]", "model.encoder.chunk.left_chunks=1",
             "data.cmvn=global", "data.max_frames=400", "train.num_threads=1",
             "scheduler.warmup_steps=2", "train.keep_last=3", "train.epochs=2"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_train_corpus(tmp_path_factory.mktemp("train"), 8, 4)


def train(data, exp, *extra):
    run(load_config(ExperimentConfig, None, [*OVERRIDES, *extra]), exp, data / "train",
        data / "dev", data / "lang")


def params(path):
    return load_checkpoint(path)["model"]


def test_dynamic_chunk_training_is_deterministic_resumable_and_streams(data, tmp_path):
    train(data, tmp_path / "a")
    train(data, tmp_path / "b")
    (tmp_path / "b/checkpoints/epoch-2.pt").unlink()  # as if killed during epoch 2
    (tmp_path / "b/final.pt").unlink()
    train(data, tmp_path / "b")  # resumes from epoch-1.pt, its RNG states with it
    train(data, tmp_path / "full", "model.encoder.chunk.full_context_prob=1.0")
    a = params(tmp_path / "a/checkpoints/epoch-2.pt")
    b = params(tmp_path / "b/checkpoints/epoch-2.pt")
    full = params(tmp_path / "full/checkpoints/epoch-2.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], full[k]) for k in a)  # chunk masks were drawn
    exp = Experiment.load(tmp_path / "a")
    # chunks of 2 frames of 40 ms
    result = decode_recognizer(StreamingRecognizer(exp, chunk_ms=80), data / "dev")
    assert set(result.hyps) == {ln.split()[0] for ln in
                                (data / "dev" / "text").read_text().splitlines()}


def test_the_digits_streaming_config_resolves():
    cfg = load_config(ExperimentConfig, REPO / "recipes/digits/conf/conformer_streaming.yaml",
                      ["data.augment.reverb.source=rirs"])  # what run.sh adds
    enc = cfg.model.encoder
    assert (enc.type, enc.causal_conv, enc.chunk.sizes) == ("conformer", True, (4, 8, 16))
    assert cfg.data.cmvn == "online" and cfg.model.frontend.type == "conv2d"
    assert cfg.data.features == "on_the_fly" and cfg.data.augment.vtlp.prob > 0
