"""Training on a tiny synthetic data dir: determinism, resume, refusal of a changed model."""

import pytest
import torch

from asr.config import load_config
from asr.errors import AsrError
from asr.exp_dir import Experiment
from asr.inference import decode_data_dir
from asr.schema import ExperimentConfig
from asr.testing import make_train_corpus
from asr.train.checkpoint import load_checkpoint
from asr.train.runner import run

pytestmark = pytest.mark.slow  # every test here trains a model or runs a recipe

OVERRIDES = ["model.frontend.type=conv2d", "model.frontend.channels=4",
             "model.encoder.num_layers=1",
             "model.encoder.hidden_size=16", "data.max_frames=400", "train.num_threads=1",
             "scheduler.warmup_steps=2", "train.keep_last=3"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_train_corpus(tmp_path_factory.mktemp("train"), 8, 8)


def train(data, exp, *extra):
    cfg = load_config(ExperimentConfig, None, [*OVERRIDES, *extra])
    run(cfg, exp, data / "train", data / "dev", data / "lang")


def params(path):
    return load_checkpoint(path)["model"]


def test_same_seed_same_parameters_and_epoch_resume_is_exact(data, tmp_path):
    train(data, tmp_path / "a", "train.epochs=2")
    train(data, tmp_path / "b", "train.epochs=2")
    train(data, tmp_path / "c", "train.epochs=2")
    # as if killed during epoch 2: its checkpoint and final.pt never got written
    (tmp_path / "c/checkpoints/epoch-2.pt").unlink()
    (tmp_path / "c/final.pt").unlink()
    train(data, tmp_path / "c", "train.epochs=2")  # resumes from epoch-1.pt
    a = params(tmp_path / "a/checkpoints/epoch-2.pt")
    for other in ("b", "c"):
        b = params(tmp_path / other / "checkpoints/epoch-2.pt")
        assert all(torch.equal(a[k], b[k]) for k in a), other
    state = load_checkpoint(tmp_path / "c/checkpoints/epoch-2.pt")["train_state"]
    assert state["epoch"] == 3 and state["batches_done"] == 0 and state["step"] > 0
    exp = Experiment.load(tmp_path / "a")
    result = decode_data_dir(exp, data / "dev")
    dev_ids = {line.split()[0] for line in (data / "dev" / "text").read_text().splitlines()}
    assert set(result.hyps) == dev_ids and result.rtf > 0


def test_changed_architecture_is_refused_with_a_diff(data, tmp_path):
    train(data, tmp_path / "e", "train.epochs=1")
    with pytest.raises(AsrError, match=r"another model architecture(.|\n)*hidden_size: 24"):
        train(data, tmp_path / "e", "train.epochs=2", "model.encoder.hidden_size=24")


def test_final_is_the_average_of_the_last_epochs(data, tmp_path):
    train(data, tmp_path / "f", "train.epochs=2", "train.average_last=2")
    e1, e2 = (params(tmp_path / f"f/checkpoints/epoch-{i}.pt") for i in (1, 2))
    final = load_checkpoint(tmp_path / "f/final.pt")
    assert final["averaged"] == ["epoch-1.pt", "epoch-2.pt"]
    for k, v in final["model"].items():
        if v.is_floating_point():
            torch.testing.assert_close(v, (e1[k].double() + e2[k].double()).div(2).float())


def test_tensorboard_scalars_are_written(data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(data, tmp_path / "t", "train.epochs=1", "train.log_interval=1")
    events = EventAccumulator(str(tmp_path / "t" / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/lr", "train/grad_norm", "train/grad_filter_scaled",
            "train/frames_per_sec", "dev/loss", "dev/wer"} <= tags
    assert len(events.Scalars("train/loss")) >= 2
