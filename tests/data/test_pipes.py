"""wav.scp ``cmd |`` entries run shell commands: they work by default, and --no-pipes /
data.allow_pipes: false refuse them up front, naming the file and utterance, running nothing."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import pytest

from asr.cli import COMMANDS, build_parser, main
from asr.config import config_from_dict
from asr.config.schema import ExperimentConfig, FbankConfig
from asr.data.dataset import OnTheFlyFbank, load_utterances
from asr.data.features import write_data_dir_feats
from asr.data.kaldi_dir import read_kv, write_kv
from asr.data.pipeline import build_split
from asr.data.tokenizer import load_tokenizer
from asr.errors import DataError
from asr.testing import make_data_dir, make_exp_dir

CFG = FbankConfig(sample_rate=8000, num_mel_bins=23)
UTT = "spk0-utt000"  # the first utterance of make_data_dir, whose audio becomes a pipe


def pipe_dir(root: Path, name: str = "d") -> tuple[Path, Path]:
    """A data dir whose first wav.scp entry is ``sh -c 'touch MARKER; cat x.wav' |``;
    returns (dir, MARKER), MARKER not yet existing."""
    d = root / name
    make_data_dir(d, num_utts=2)
    marker = root / f"{name}.MARKER"
    wav = read_kv(d / "wav.scp")
    wav[UTT] = f"sh -c {shlex.quote(f'touch {marker}; cat {wav[UTT]}')} |"
    write_kv(d / "wav.scp", wav)
    return d, marker


def assert_refused(rc: int, err: str, cmd: str, d: Path, marker: Path) -> None:
    assert rc == 2 and not marker.exists(), err
    assert err.count("\n") == 1 and err.startswith(f"asr {cmd}: error: "), err
    assert f"{d / 'wav.scp'}:1: utterance '{UTT}' is a pipe" in err and "Traceback" not in err


def test_decode_runs_pipes_by_default_and_refuses_them_with_no_pipes(tmp_path, capsys):
    d, marker = pipe_dir(tmp_path)
    exp = make_exp_dir(tmp_path / "exp")
    base = ["decode", "--exp-dir", str(exp), "--data-dir", str(d), "--out", str(tmp_path / "o")]
    assert_refused(main([*base, "--no-pipes"]), capsys.readouterr().err, "decode", d, marker)
    assert not (tmp_path / "o").exists()
    assert main(base) == 0 and marker.exists()
    assert set(read_kv(tmp_path / "o" / "hyp", allow_empty=True)) == {UTT, "spk1-utt001"}


def test_fbank_runs_pipes_by_default_and_refuses_them_with_no_pipes(tmp_path, capsys):
    d, marker = pipe_dir(tmp_path)
    assert_refused(main(["fbank", "--no-pipes", str(d), "--set", "sample_rate=8000"]),
                   capsys.readouterr().err, "fbank", d, marker)
    assert not (d / "feats.scp").exists()
    assert main(["fbank", str(d), "--set", "sample_rate=8000"]) == 0 and marker.exists()
    assert set(read_kv(d / "feats.scp")) == {UTT, "spk1-utt001"}


# every command offering --no-pipes, with the arguments that make it read the pipe dir "D"
NO_PIPES_ARGS = {
    "fbank": ["--on-the-fly", "D"],
    "speed-perturb": ["--factors", "0.9", "D", "OUT"],
    "cmvn": ["D"],
    "decode": ["--exp-dir", "EXP", "--data-dir", "D", "--out", "OUT"],
    "align": ["--exp-dir", "EXP", "--data-dir", "D", "--out", "OUT"],
    "validate-data": ["D"],
    "lhotse-import": ["D", "OUT"],
    "augment-data": ["D", "OUT", "--gain-db=-3:3"],
    "shar": ["D", "OUT", "--content", "audio"],
}


def _has_no_pipes(parser: argparse.ArgumentParser) -> bool:
    return any("--no-pipes" in a.option_strings for a in parser._actions)


def test_every_command_with_no_pipes_refuses_before_running_anything(tmp_path, capsys):
    subparsers = next(a for a in build_parser()._actions
                      if isinstance(a, argparse._SubParsersAction))
    offered = {c for c in COMMANDS if _has_no_pipes(subparsers.choices[c])}
    assert offered == set(NO_PIPES_ARGS)
    d, marker = pipe_dir(tmp_path)
    write_data_dir_feats(d, CFG, write_feats=False, allow_pipes=True)  # for cmvn on the fly
    marker.unlink()
    exp = make_exp_dir(tmp_path / "exp")
    for cmd, args in NO_PIPES_ARGS.items():
        argv = [{"D": str(d), "EXP": str(exp), "OUT": str(tmp_path / f"out-{cmd}")}.get(a, a)
                for a in args]
        rc = main([cmd, "--no-pipes", *argv])
        err = capsys.readouterr().err
        assert rc == 2 and not marker.exists(), (cmd, err)
        assert "Traceback" not in err and UTT in err and "wav.scp" in err, (cmd, err)
        assert not (tmp_path / f"out-{cmd}").exists(), cmd


def test_transcribe_never_runs_a_file_name_as_a_command(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    exp = make_exp_dir(tmp_path / "exp")
    rc = main(["transcribe", "--exp-dir", str(exp), f"touch {marker} |"])
    err = capsys.readouterr().err
    assert rc == 2 and not marker.exists() and "is a pipe" in err and "Traceback" not in err


def test_dataset_layer_refuses_pipes_when_data_allow_pipes_is_false(tmp_path):
    d, marker = pipe_dir(tmp_path)
    write_data_dir_feats(d, CFG, write_feats=False)  # runs the pipe once: frame counts
    assert marker.exists()
    marker.unlink()
    make_exp_dir(tmp_path / "exp")
    tok = load_tokenizer(tmp_path / "exp" / "lang")
    with pytest.raises(DataError, match=rf"wav\.scp:1: utterance '{UTT}' is a pipe"):
        load_utterances(d, tok, from_audio=True, allow_pipes=False)
    cfg = config_from_dict(ExperimentConfig, {"data": {
        "features": "on_the_fly", "cmvn": "utterance", "allow_pipes": False}})
    with pytest.raises(DataError, match=f"utterance '{UTT}' is a pipe"):
        build_split(cfg, tmp_path / "exp" / "cmvn.ark", d, tok, CFG, lambda t: t // 4, train=True)
    assert not marker.exists()
    utts = load_utterances(d, tok, from_audio=True)  # allowed: the pipe runs when read
    assert OnTheFlyFbank(CFG)(next(u for u in utts if u.utt_id == UTT)).shape[1] == 23
    assert marker.exists()


def test_lhotse_cuts_with_command_audio_are_refused_when_pipes_are_not_allowed(tmp_path):
    from asr.data.lhotse_io import import_data_dir, load_cut_utterances

    d, marker = pipe_dir(tmp_path)
    import_data_dir(d, tmp_path / "m")
    marker.unlink()
    make_exp_dir(tmp_path / "exp")
    tok = load_tokenizer(tmp_path / "exp" / "lang")
    with pytest.raises(DataError, match=f"cut '{UTT}' is a pipe"):
        load_cut_utterances(tmp_path / "m", tok, CFG, True, allow_pipes=False)
    assert len(load_cut_utterances(tmp_path / "m", tok, CFG, True)[0]) == 2
    assert not marker.exists()
