from pathlib import Path

import pytest

from asr.config import config_from_dict, config_to_dict, dump_config, load_config
from asr.config.model_schema import Conv2dFrontendConfig, StackFrontendConfig
from asr.config.schema import ExperimentConfig
from asr.errors import ConfigError
from asr.nn.chunked_ctc import streamable_chunk_sizes
from asr.nn.registry import build_model

REPO = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_extends_merges_and_child_wins(tmp_path):
    write(tmp_path / "base.yaml", "optim: {lr: 1.0e-3, weight_decay: 0.5}\ntrain: {epochs: 3}\n")
    child = write(tmp_path / "child.yaml", "extends: base.yaml\noptim: {lr: 2.0e-3}\n")
    cfg = load_config(ExperimentConfig, child)
    assert cfg.optim.lr == 2e-3
    assert cfg.optim.weight_decay == 0.5
    assert cfg.train.epochs == 3


def test_dotted_overrides_and_float_without_dot(tmp_path):
    c = write(tmp_path / "c.yaml", "optim: {lr: 1e-3}\n")  # PyYAML reads 1e-3 as a string
    cfg = load_config(ExperimentConfig, c, ["optim.lr=2e-3", "model.encoder.num_layers=2"])
    assert cfg.optim.lr == 2e-3
    assert cfg.model.encoder.num_layers == 2


def test_unknown_key_names_key_and_file(tmp_path):
    c = write(tmp_path / "c.yaml", "model:\n  encoder:\n    hiden_size: 3\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: unknown key 'model\.encoder\.hiden_size'"):
        load_config(ExperimentConfig, c)


def test_unknown_key_in_base_names_the_base(tmp_path):
    write(tmp_path / "base.yaml", "train: {epoch: 3}\n")
    c = write(tmp_path / "c.yaml", "extends: base.yaml\n")
    with pytest.raises(ConfigError, match=r"base\.yaml: unknown key 'train\.epoch'"):
        load_config(ExperimentConfig, c)


def test_wrong_type_names_key_and_file(tmp_path):
    c = write(tmp_path / "c.yaml", "train: {epochs: two}\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: train\.epochs: expected int, got str"):
        load_config(ExperimentConfig, c)


def test_wrong_type_from_override_names_the_override(tmp_path):
    c = write(tmp_path / "c.yaml", "{}\n")
    with pytest.raises(ConfigError, match=r"override 'train\.seed=x'.*expected int"):
        load_config(ExperimentConfig, c, ["train.seed=x"])
    with pytest.raises(ConfigError, match="unknown key 'optim.lrr'"):
        load_config(ExperimentConfig, c, ["optim.lrr=1"])
    with pytest.raises(ConfigError, match="expected true or false"):
        load_config(ExperimentConfig, c, ["data.sortagrad=1"])


def test_literal_and_value_checks(tmp_path):
    c = write(tmp_path / "c.yaml", "data: {cmvn: speaker_global}\n")
    with pytest.raises(ConfigError, match="data.cmvn: expected one of 'global'"):
        load_config(ExperimentConfig, c)
    with pytest.raises(ConfigError, match="average_last cannot exceed keep_last"):
        load_config(ExperimentConfig, None, ["train.keep_last=2", "train.average_last=3"])


def test_variant_switch_replaces_the_base_section(tmp_path):
    write(tmp_path / "base.yaml", "model: {frontend: {type: stack, stack: 3}}\n")
    c = write(tmp_path / "c.yaml", "extends: base.yaml\nmodel: {frontend: {type: conv2d}}\n")
    assert load_config(ExperimentConfig, c).model.frontend == Conv2dFrontendConfig()
    cfg = load_config(ExperimentConfig, tmp_path / "base.yaml")
    assert cfg.model.frontend == StackFrontendConfig(stack=3)
    with pytest.raises(ConfigError, match="model.frontend.type: expected one of"):
        load_config(ExperimentConfig, c, ["model.frontend.type=lstm"])


def test_missing_file_and_cycle(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(ExperimentConfig, tmp_path / "nope.yaml")
    write(tmp_path / "a.yaml", "extends: b.yaml\n")
    write(tmp_path / "b.yaml", "extends: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(ExperimentConfig, tmp_path / "a.yaml")


def test_configs_are_frozen_and_round_trip(tmp_path):
    cfg = load_config(ExperimentConfig, REPO / "recipes/digits/conf/bilstm.yaml",
                      ["data.augment.reverb.source=rirs"])  # what run.sh adds
    with pytest.raises(AttributeError):
        cfg.train.epochs = 3  # type: ignore[misc]
    out = write(tmp_path / "resolved.yaml", dump_config(cfg))
    assert load_config(ExperimentConfig, out) == cfg
    assert config_from_dict(ExperimentConfig, config_to_dict(cfg)) == cfg


def test_every_shipped_config_loads_and_streaming_ones_stream():
    streaming = []
    for path in [*REPO.glob("conf/*ctc*.yaml"), *REPO.glob("recipes/*/conf/*.yaml")]:
        if "fbank" not in path.name:  # run.sh gives augmentation sources (its corpus, RIRs)
            cfg = load_config(ExperimentConfig, path, ["data.augment.noise.source=noise",
                                                       "data.augment.reverb.source=rirs"])
            if "streaming" in path.name:
                assert cfg.data.cmvn in ("global", "online"), path  # causal CMVN
                model = build_model(cfg.model, 80, 10)
                assert streamable_chunk_sizes(model) == (4, 8, 16), path
                streaming.append(path.parent.parent.name)
    assert set(streaming) == {"digits", "librispeech", "speech_commands"}


def test_partial_variant_section_keeps_the_default_type():
    cfg = load_config(ExperimentConfig, None, ["model.frontend.stack=2"])
    assert cfg.model.frontend == StackFrontendConfig(stack=2)
