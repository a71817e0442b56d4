"""What a new user hit in one afternoon (issue 25), each with the test that would have
caught it: decode-dir records, segments, speakers, rejection, partial failures, file
modes, messages, help, and the exported model's sidecar."""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from asr.atomic_io import atomic_write_text
from asr.cli import build_parser
from asr.config.model_schema import LSTMConfig, ModelConfig, StackFrontendConfig
from asr.config.schema import FbankConfig
from asr.data.audio import load_audio
from asr.data.features import write_data_dir_feats
from asr.data.kaldi_dir import write_kv
from asr.data.validate import validate_data_dir
from asr.decode.recognizer import chunk_frames
from asr.errors import AsrError, DataError
from asr.exp.experiment import Experiment
from asr.functional.ctc_vocabulary import ctc_vocabulary_search
from asr.testing import make_data_dir, make_exp_dir


def asr(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "asr", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    return make_exp_dir(tmp_path_factory.mktemp("exp") / "exp")


@pytest.mark.slow
def test_a_decode_dir_holds_one_runs_outputs_and_its_record(exp, tmp_path):
    data = tmp_path / "data"
    make_data_dir(data, num_utts=3)
    out = tmp_path / "decode"
    first = asr("decode", "--exp-dir", exp, "--data-dir", data, "--out", out,
                "--method", "prefix_beam", "--beam", "4", "--blank-penalty", "0.5")
    assert first.returncode == 0, first.stderr
    assert (out / "wer").is_file()
    # numpy's "smallest subnormal is zero" (from the flushed denormals) is not shown
    assert "subnormal" not in first.stderr and "[root]" not in first.stderr
    record = (out / "decode.log").read_text()
    assert f"checkpoint {exp / 'final.pt'}" in record
    assert "method prefix_beam, beam 4" in record and "blank_penalty 0.5" in record
    assert "RTF" in record
    (data / "text").unlink()
    second = asr("decode", "--exp-dir", exp, "--data-dir", data, "--out", out)
    assert second.returncode == 0, second.stderr
    assert not (out / "wer").exists()  # the first run's %WER does not survive
    record = (out / "decode.log").read_text()
    assert "method greedy" in record and "prefix_beam" not in record


def test_segments_past_the_recording_are_reported_dropped_and_refused(tmp_path):
    rate = 8000
    wav = tmp_path / "rec1.wav"
    soundfile.write(wav, np.zeros(int(4.47 * rate), np.int16) + 100, rate)
    data = tmp_path / "data"
    write_kv(data / "wav.scp", {"rec1": str(wav)})
    write_kv(data / "segments", {"a": "rec1 0.0 2.0", "b": "rec1 3.0 9.0", "c": "rec1 2.0 4.8"})
    write_kv(data / "text", {"a": "ONE", "b": "TWO", "c": "THREE"})
    write_kv(data / "utt2spk", {"a": "s", "b": "s", "c": "s"})
    write_kv(data / "spk2utt", {"s": "a b c"})
    report = validate_data_dir(data)
    # c overshoots by 0.33 s: cut, as Kaldi's extract-segments (--max-overshoot 0.5) does
    assert report.defects == {"segment_past_end": ["b: ends at 9 s, rec1 is 4.47 s"]}
    assert "fix-data" in report.advice()
    with pytest.raises(DataError, match=r"ends at 9.0 s, 4.53 s after the end of the audio"):
        load_audio(str(wav), "b", 3.0, 9.0)
    assert load_audio(str(wav), "c", 2.0, 4.8)[0].shape[0] == int(2.47 * rate)


def test_a_dir_without_utt2spk_is_said_to_be_one_speaker_per_utterance(exp, tmp_path):
    data = tmp_path / "data"
    make_data_dir(data, num_utts=2)
    (data / "utt2spk").unlink()
    (data / "spk2utt").unlink()
    report = validate_data_dir(data)
    assert not report.defects and "no utt2spk: each utterance is its own speaker" in \
        report.format()
    shutil.rmtree(exp.parent / "spk", ignore_errors=True)
    spk_exp = make_exp_dir(exp.parent / "spk")
    cfg = (spk_exp / "config.yaml").read_text().replace("cmvn: utterance", "cmvn: speaker")
    (spk_exp / "config.yaml").write_text(cfg)
    out = asr("decode", "--exp-dir", spk_exp, "--data-dir", data, "--out", tmp_path / "d")
    assert out.returncode == 0, out.stderr
    assert "per-utterance (no utt2spk: each utterance is its own speaker) CMVN" in out.stderr


def test_vocabulary_search_rejects_what_is_likelier_nothing_than_any_entry():
    vocabulary = [[1], [2, 3]]
    silence = torch.full((1, 20, 4), -8.0)
    silence[..., 0] = -0.001
    speech = torch.full((1, 20, 4), -6.0)
    speech[0, :, 0] = -0.01
    speech[0, 5:8, 2] = speech[0, 9:12, 3] = -0.01
    lengths = torch.tensor([20])
    assert ctc_vocabulary_search(silence, lengths, vocabulary) == [[]]
    assert ctc_vocabulary_search(speech, lengths, vocabulary) == [[2, 3]]


@pytest.mark.slow
def test_one_unreadable_file_does_not_cost_the_others(exp, tmp_path):
    make_data_dir(tmp_path / "d", num_utts=2)
    good = sorted((tmp_path / "d" / "wav").glob("*.wav"))
    missing = tmp_path / "nonexist.wav"
    out = asr("transcribe", "--exp-dir", exp, good[0], missing, good[1])
    assert out.returncode == 1
    assert [line.split()[0] for line in out.stdout.splitlines()] == [str(good[0]), str(good[1])]
    assert f"cannot read audio '{missing}': file not found" in out.stderr
    assert "Traceback" not in out.stderr
    alone = asr("transcribe", "--exp-dir", exp, missing)
    assert alone.returncode == 2 and "file not found" in alone.stderr


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_writes_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "hyp", "u1 ONE\n")
    finally:
        os.umask(old)
    assert (tmp_path / "hyp").stat().st_mode & 0o777 == mode


def test_validate_names_what_fix_data_fixes_and_what_it_does_not(tmp_path):
    data = tmp_path / "data"
    make_data_dir(data, num_utts=2)
    utt = (data / "wav.scp").read_text().split()[0]
    write_kv(data / "wav.scp", {u: ("cat x.wav |" if u == utt else p) for u, p in
                                (line.split(maxsplit=1) for line in
                                 (data / "wav.scp").read_text().splitlines())})
    report = validate_data_dir(data, allow_pipes=False)
    assert report.format().splitlines()[0].endswith("2 utterances, 1 problem")
    advice = report.advice()
    assert "fix-data" not in advice and "pipes are refused with --no-pipes" in advice
    out = asr("validate-data", "--no-pipes", data)
    assert out.returncode == 2 and "fix-data" not in out.stderr


def test_streaming_chunk_errors_say_what_an_lstm_takes(tmp_path):
    model = ModelConfig(frontend=StackFrontendConfig(stack=4),
                        encoder=LSTMConfig(num_layers=1, hidden_size=16))
    e = Experiment.load(make_exp_dir(tmp_path / "lstm", model=model))
    with pytest.raises(AsrError, match=r"streams chunks of any size that is a whole number "
                                       r"of 40 ms encoder frames \(a unidirectional lstm\)"):
        chunk_frames(e, e.load_model(), 50)
    assert chunk_frames(e, e.load_model(), 120) == 3


def test_stereo_audio_names_the_channel_option(tmp_path):
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.zeros((800, 2), np.int16), 8000)
    with pytest.raises(DataError, match=r"asr transcribe --channel N' \(0..1\)"):
        load_audio(str(path))


def test_every_option_has_help_and_shows_its_default():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        text = p.format_help()
        for action in p._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"asr {name} {action.option_strings or action.dest}"
            if action.option_strings and action.default not in (None, False) \
                    and not isinstance(action.default, bool):
                assert "default" in p._get_formatter()._get_help_string(action), \
                    f"asr {name} {action.option_strings[0]}"
        assert "usage" in text
    assert "--beam BEAM           beam size for prefix_beam (default: 10)" in \
        sub.choices["decode"].format_help()
    listing = parser.format_help()
    assert "volume and tempo" in listing  # augment-data's line is a whole sentence


@pytest.mark.slow
def test_features_from_audio_replace_a_feats_scp_of_other_options(exp, tmp_path):
    data = tmp_path / "data"
    make_data_dir(data, num_utts=2)
    write_data_dir_feats(data, FbankConfig(sample_rate=8000, num_mel_bins=40))
    refused = asr("decode", "--exp-dir", exp, "--data-dir", data, "--out", tmp_path / "a")
    assert refused.returncode == 2 and "add --features-from-audio" in refused.stderr
    out = asr("decode", "--exp-dir", exp, "--data-dir", data, "--out", tmp_path / "b",
              "--features-from-audio")
    assert out.returncode == 0, out.stderr
    assert len((tmp_path / "b" / "hyp").read_text().splitlines()) == 2
    assert (data / "feats.scp").is_file()  # the user's file is left as it was


@pytest.mark.slow
def test_offline_export_writes_what_a_runtime_needs(exp, tmp_path):
    out = tmp_path / "model.pt"
    run = asr("export", "--exp-dir", exp, "--format", "torchscript", "--out", out)
    assert run.returncode == 0, run.stderr
    meta = json.loads(out.with_suffix(".json").read_text())
    e = Experiment.load(exp)
    assert meta["tokens"] == list(e.tokenizer.tokens) and meta["blank"] == 0
    assert meta["word_separator"] == "\u2581" and meta["subsampling"] == 4
    assert meta["features"]["num_mel_bins"] == 23 and meta["features"]["sample_rate"] == 8000
    assert meta["cmvn"]["type"] == "utterance" and "speech frames" in meta["cmvn"]["how"]
    assert [i["name"] for i in meta["inputs"]] == ["feats", "lengths"]
    assert meta["outputs"][0]["shape"] == [-1, -1, e.tokenizer.vocab_size]


def test_a_failing_pipe_names_its_stderr_and_fbank_leaves_nothing_behind(tmp_path):
    data = tmp_path / "d"
    make_data_dir(data, num_utts=2)
    first = (data / "wav.scp").read_text().splitlines()[0].split()[0]
    lines = (data / "wav.scp").read_text().splitlines()
    lines[1] = lines[1].split()[0] + " sh -c 'echo no such tool >&2; exit 127' |"
    (data / "wav.scp").write_text("\n".join(lines) + "\n")
    before = sorted(p.name for p in data.iterdir())
    with pytest.raises(DataError, match="exited with status 127: stderr: no such tool"):
        write_data_dir_feats(data, FbankConfig(sample_rate=8000, num_mel_bins=23))
    assert sorted(p.name for p in data.iterdir()) == before  # no data/, no partial ark
    assert first  # the good utterance was read before the bad one: its ark is gone too
