"""Keys that contradict each other fail when the config loads, before any data is read, with
a message naming both keys and what to change; what only the end of a run can know (fewer
epoch checkpoints on disk than train.average_last) is a warning, and final.pt is written."""

import logging
from pathlib import Path

import pytest
import torch

from asr.config import config_from_dict, config_to_dict, load_config
from asr.config.schema import ExperimentConfig
from asr.errors import ConfigError
from asr.exp import layout
from asr.train import checkpoint as ckpt
from asr.train.loop import Trainer
from asr.train.state import TrainState

REPO = Path(__file__).resolve().parents[2]


def load(*overrides: str, path: Path | None = None) -> ExperimentConfig:
    return load_config(ExperimentConfig, path, list(overrides))


@pytest.mark.parametrize("overrides, message", [
    (["train.epochs=1", "train.average_last=4"],
     r"train.average_last is 4 but train.epochs is 1: .*set train.average_last <= 1"),
    (["train.keep_last=2", "train.average_last=3"],
     r"train.average_last is 3 but train.keep_last is 2: average_last cannot exceed keep_last"
     r".*set train.keep_last >= 3"),
    (["train.save_every_steps=100", "train.keep_last_steps=0"],
     r"train.save_every_steps is 100 but train.keep_last_steps is 0: .*set "
     r"train.keep_last_steps >= 1"),
    (["data.features=on_the_fly", "data.augment.volume.prob=0.5",
      "data.augment.start_epoch=4", "train.epochs=3"],
     r"data.augment.start_epoch is 4 but train.epochs is 3: augmentation would never run"),
    (["data.source=lhotse", "data.features=on_the_fly", "data.speed_perturb=[0.9,1.1]"],
     r"data.speed_perturb is \[0.9, 1.1\] but data.source is 'lhotse'.*"
     r"set data.source: kaldi or lhotse_shar"),
    (["model.encoder.type=conformer", "model.encoder.d_model=100",
      "model.encoder.num_heads=3"],
     r"encoder.d_model is 100 but encoder.num_heads is 3"),
])
def test_a_conflict_fails_at_load_naming_both_keys(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load(*overrides)


def test_a_shipped_recipe_shortened_to_one_epoch_fails_at_load_not_at_the_end():
    """The measured defect: digits' bilstm.yaml averages 4 epochs; `train.epochs=1` used to
    train to the end and then leave no final.pt."""
    conf = REPO / "recipes/digits/conf/bilstm.yaml"
    src = "data.augment.reverb.source=rirs"  # what run.sh adds
    with pytest.raises(ConfigError, match="train.average_last is 4 but train.epochs is 1"):
        load(src, "train.epochs=1", path=conf)
    assert load(src, "train.epochs=1", "train.average_last=1", path=conf).train.epochs == 1


def test_no_conflict_where_the_keys_agree():
    load("train.epochs=3", "train.average_last=3", "train.keep_last=3")
    load("train.save_every_steps=0", "train.keep_last_steps=0")
    load("data.augment.start_epoch=9", "train.epochs=3")  # augmentation off: start unused
    load("data.features=on_the_fly", "data.speed_perturb=[0.9,1.1]")  # kaldi source
    load("model.encoder.type=conformer", "model.encoder.d_model=96",
         "model.encoder.num_heads=4")


def test_a_resolved_config_is_checked_the_same_way():
    data = config_to_dict(ExperimentConfig())
    data["train"].update(average_last=data["train"]["epochs"] + 1, keep_last=20)
    with pytest.raises(ConfigError, match="train.average_last is 11 but train.epochs is 10"):
        config_from_dict(ExperimentConfig, data)


def epoch_file(ckpt_dir: Path, epoch: int, value: float) -> Path:
    path = ckpt_dir / f"epoch-{epoch}.pt"
    ckpt.save_checkpoint(path, {"model": {"w": torch.full((2,), value), "n": torch.tensor(epoch)},
                                "train_state": {"epoch": epoch + 1, "batches_done": 0}})
    return path


def trainer_for(exp: Path, *overrides: str) -> Trainer:
    """A Trainer holding only what write_final reads (no data, no training)."""
    model = torch.nn.Module()
    model.register_buffer("w", torch.full((2,), 99.0))
    model.register_buffer("n", torch.tensor(0))
    return Trainer(cfg=load(*overrides), exp=exp, model=model, tokenizer=None, optimizer=None,
                   scheduler=None, scaler=None, state=TrainState(epoch=5),  # epochs 1-4 done
                   train_loader=None, sampler=None, dev_loader=None, loader_generator=None,
                   device=torch.device("cpu"), writer=None)


def test_fewer_epoch_checkpoints_than_averaged_warn_and_final_is_still_written(tmp_path,
                                                                              caplog):
    ckpt_dir = tmp_path / layout.CKPT_DIR
    ckpt_dir.mkdir()
    for e in range(1, 5):
        epoch_file(ckpt_dir, e, float(e))
    (ckpt_dir / "epoch-2.pt").unlink()  # deleted by hand
    (ckpt_dir / "epoch-3.pt").write_bytes(b"truncated")  # a save cut short elsewhere
    trainer = trainer_for(tmp_path, "train.epochs=4", "train.average_last=3")
    with caplog.at_level(logging.WARNING, logger="asr.train.checkpoint"):
        trainer.write_final()
    final = ckpt.load_checkpoint(tmp_path / layout.FINAL)
    assert final["averaged"] == ["epoch-4.pt"]  # of epochs 2-4 only 4 is left (not 1)
    assert torch.equal(final["model"]["w"], torch.full((2,), 4.0))
    assert "train.average_last is 3, but of epoch-2.pt .. epoch-4.pt" in caplog.text
    assert "epoch-3.pt" in caplog.text  # the unreadable one is named

    for e in (1, 4):  # none left at all: the model in memory is final.pt
        (ckpt_dir / f"epoch-{e}.pt").unlink()
    (ckpt_dir / "epoch-3.pt").unlink()
    trainer.write_final()
    final = ckpt.load_checkpoint(tmp_path / layout.FINAL)
    assert final["averaged"] == [] and torch.equal(final["model"]["w"], torch.full((2,), 99.0))


def test_all_epoch_checkpoints_there_average_as_before(tmp_path):
    ckpt_dir = tmp_path / layout.CKPT_DIR
    ckpt_dir.mkdir()
    for e in range(1, 5):
        epoch_file(ckpt_dir, e, float(e))
    trainer_for(tmp_path, "train.epochs=4", "train.average_last=2").write_final()
    final = ckpt.load_checkpoint(tmp_path / layout.FINAL)
    assert final["averaged"] == ["epoch-3.pt", "epoch-4.pt"]
    assert torch.equal(final["model"]["w"], torch.full((2,), 3.5))
    assert int(final["model"]["n"]) == 4  # integer buffers: the last one's


def test_the_checkpoint_just_written_survives_keep_last_steps_0(tmp_path):
    """A preemption checkpoint is a step checkpoint: keep_last_steps 0 must not delete it."""
    epoch_file(tmp_path, 1, 1.0)
    step = tmp_path / "checkpoint-7.pt"
    ckpt.save_checkpoint(step, {"model": {}, "train_state": {"epoch": 2, "batches_done": 3}})
    ckpt.prune(tmp_path, 1, 0, 0, protect=step)
    assert step.is_file()
    ckpt.prune(tmp_path, 1, 0, 0)
    assert not step.is_file() and (tmp_path / "epoch-1.pt").is_file()


def test_a_warmup_longer_than_the_run_is_warned_of_before_training(caplog):
    from asr.train.runner import _check_warmup

    with caplog.at_level(logging.WARNING, logger="asr.train.runner"):
        _check_warmup(load("scheduler.warmup_steps=500", "train.epochs=2"), 20)
    assert "scheduler.warmup_steps is 500 but the run has 40 optimizer steps" in caplog.text
    assert "the cosine never decays" in caplog.text
    caplog.clear()
    _check_warmup(load("scheduler.warmup_steps=10", "train.epochs=2"), 20)
    assert caplog.text == ""


def test_a_missing_init_from_file_fails_before_any_data_is_read(tmp_path):
    from asr.train.runner import run

    cfg = load("train.device=cpu", f"train.init_from={tmp_path / 'nope.pt'}")
    missing = tmp_path / "no_such_data"  # never opened: the check comes first
    with pytest.raises(ConfigError, match=r"train.init_from: .*nope.pt: no such file"):
        run(cfg, tmp_path / "exp", missing, missing, missing)
