"""Training on a tiny synthetic data dir: determinism, resume, refusal of a changed model."""

import logging
import math

import pytest
import torch

from asr.config import load_config
from asr.config.model_schema import ConformerConfig, ModelConfig
from asr.config.schema import ExperimentConfig
from asr.decode.data_dir import decode_data_dir
from asr.errors import AsrError
from asr.exp.experiment import Experiment
from asr.nn.registry import build_model
from asr.testing import make_train_corpus
from asr.train.checkpoint import load_checkpoint
from asr.train.distributed import Dist
from asr.train.resume import init_parameters
from asr.train.runner import build_trainer, run

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
    assert set(result.hyps) == dev_ids
    # the audio decoded is every dev frame at the 10 ms shift, and RTF is time over audio
    frames = sum(int(line.split()[1])
                 for line in (data / "dev" / "utt2num_frames").read_text().splitlines())
    assert result.audio_seconds == pytest.approx(frames * 0.010)
    assert 0 < result.decode_seconds < 600 and math.isfinite(result.rtf)
    assert result.rtf == pytest.approx(result.decode_seconds / result.audio_seconds)


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


def test_the_exp_dir_records_how_it_was_made(data, tmp_path):
    from asr.cli import main
    from asr.train.run_info import code_revision

    exp = tmp_path / "exp"
    argv = ["train", "--config", str(data / "train.yaml"), "--exp-dir", str(exp),
            "--train-dir", str(data / "train"), "--dev-dir", str(data / "dev"),
            "--lang-dir", str(data / "lang"), *OVERRIDES, "train.epochs=1"]
    (data / "train.yaml").write_text("train:\n  seed: 5\n")
    assert main(argv) == 0
    run_section = load_config(ExperimentConfig, exp / "config.yaml").run
    assert run_section.train_dir == str((data / "train").resolve())
    assert run_section.dev_dir == str((data / "dev").resolve())
    assert run_section.lang_dir == str((data / "lang").resolve())
    assert run_section.command.startswith("asr train --config ")
    assert run_section.command.endswith(" train.epochs=1")
    assert run_section.code_revision == code_revision() != ""
    # a resume from another command line is the same run: no config difference is reported
    (exp / "final.pt").unlink()
    assert main([*argv, "train.log_interval=20"]) == 0  # the default: a new command only
    assert "changed config" not in (exp / "log" / "train.log").read_text()


def test_init_from_copies_the_tensors_of_matching_name_and_shape(data, tmp_path, caplog):
    """A unidirectional LSTM started from a trained BiLSTM: the frontend and the first
    layer's forward weights fit (same names, same shapes), the rest stays random."""
    train(data, tmp_path / "bi", "train.epochs=1")
    source = params(tmp_path / "bi/final.pt")
    lstm = ["model.encoder.type=lstm", "model.encoder.num_layers=2"]
    cfg = load_config(ExperimentConfig, None, [*OVERRIDES, *lstm, "train.epochs=1",
                                               f"train.init_from={tmp_path / 'bi/final.pt'}"])
    with caplog.at_level(logging.INFO, logger="asr.train.runner"):
        trainer = build_trainer(cfg, tmp_path / "uni", data / "train", data / "dev",
                                data / "lang", Dist())
    got = trainer.model.state_dict()
    fitting = [k for k in got if k in source and source[k].shape == got[k].shape]
    assert "encoder.lstms.0.weight_ih_l0" in fitting and any(k.startswith("frontend.")
                                                            for k in fitting)
    assert all(torch.equal(got[k], source[k]) for k in fitting)
    assert "encoder.lstms.1.weight_ih_l0" not in fitting  # the BiLSTM has one layer
    assert "head.proj.weight" not in fitting  # 2 x 16 BiLSTM outputs against 16
    assert f"initialized {len(fitting)} of {len(got)} tensors" in caplog.text
    assert "encoder.lstms.1.weight_ih_l0" in caplog.text  # listed as random
    lc = ["model.encoder.type=lc_bilstm", "model.encoder.num_layers=1",
          "model.encoder.chunk.sizes=[2]"]
    cfg = load_config(ExperimentConfig, None, [*OVERRIDES, *lc, "train.epochs=1",
                                               f"train.init_from={tmp_path / 'bi/final.pt'}"])
    lc_model = build_trainer(cfg, tmp_path / "lc", data / "train", data / "dev",
                             data / "lang", Dist()).model.eval()
    lc_got = lc_model.state_dict()  # a BiLSTM's directions: the LC layer's two LSTMs
    assert all(torch.equal(lc_got[k], v) for k, v in source.items() if not k.startswith("encoder"))
    assert torch.equal(lc_got["encoder.forward_lstms.0.weight_hh_l0"],
                       source["encoder.lstms.0.weight_hh_l0"])
    assert torch.equal(lc_got["encoder.backward_lstms.0.bias_ih_l0"],
                       source["encoder.lstms.0.bias_ih_l0_reverse"])
    feats, lens = torch.randn(2, 40, 23), torch.tensor([40, 31])
    feats[1, 31:] = 0.0
    bi_model = Experiment.load(tmp_path / "bi").load_model()
    with torch.no_grad():  # so at full context it is that BiLSTM
        torch.testing.assert_close(lc_model(feats, lens)[0], bi_model(feats, lens)[0],
                                   atol=1e-5, rtol=0)
    with pytest.raises(AsrError, match="no parameter of this model has the same name"):
        init_parameters(build_model(ModelConfig(encoder=ConformerConfig(
            d_model=12, num_layers=1, num_heads=2, ff_dim=8, kernel_size=3)), 23, 5),
            tmp_path / "bi/final.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(AsrError, match="train.init_from: .*bad.pt: refused"):
        init_parameters(trainer.model, tmp_path / "bad.pt")
