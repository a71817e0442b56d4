"""Audio a user may hand to 'asr decode' and 'asr transcribe': all zeros, shorter than a
frame, clipped, too long for one piece; and the CMVN statistics transcribe uses."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile
import torch

from asr.cli import main
from asr.data.features import audio_fbank
from asr.data.kaldi_dir import write_data_dir
from asr.decode.data_dir import decode_data_dir
from asr.decode.files import transcribe_files
from asr.exp.experiment import Experiment
from asr.testing import make_exp_dir, synth_utterance


@pytest.fixture(scope="module")
def exp(tmp_path_factory) -> Experiment:
    return Experiment.load(make_exp_dir(tmp_path_factory.mktemp("edge") / "exp"))


def write(path, samples: np.ndarray, subtype: str = "PCM_16") -> str:
    soundfile.write(path, samples, 8000, subtype=subtype)
    return str(path)


def test_silent_and_too_short_utterances_decode_to_empty_hypotheses(exp, tmp_path, caplog):
    speech = synth_utterance([1, 2], seed=3)
    wavs = {"a-zeros": write(tmp_path / "zeros.wav", np.zeros(16000, np.int16)),
            "b-short": write(tmp_path / "short.wav", speech[:120]),  # < one 25 ms frame
            "c-speech": write(tmp_path / "speech.wav", speech),
            "d-clipped": write(tmp_path / "clipped.wav",
                               np.clip(speech.astype(np.int32) * 40, -32768, 32767)
                               .astype(np.int16))}
    write_data_dir(tmp_path / "d", wavs, {u: "ONE TWO" for u in wavs},
                   {u: "spk" for u in wavs})
    result = decode_data_dir(exp, tmp_path / "d")
    assert result.hyps["b-short"] == "" and set(result.hyps) == set(wavs)
    assert "'b-short': 120 samples make no 25 ms frame" in caplog.text
    # all zeros: 200 ms of the noise floor (an untrained model may say anything there; a
    # trained one says nothing: test_silence.py), or with silence_frames 0 no frame at all
    none = Experiment(exp.path, exp.config, dataclasses.replace(exp.feats, silence_frames=0),
                      exp.tokenizer)
    assert decode_data_dir(none, tmp_path / "d").hyps["a-zeros"] == ""
    assert "'a-zeros': 0 feature frames give the model no output frame" in caplog.text
    # the silent ones leave the speaker's statistics, and so the others' text, alone
    others = {u: wavs[u] for u in ("c-speech", "d-clipped")}
    write_data_dir(tmp_path / "o", others, {u: "ONE TWO" for u in others},
                   {u: "spk" for u in others})
    alone = decode_data_dir(exp, tmp_path / "o").hyps
    assert alone == {u: result.hyps[u] for u in others}
    assert transcribe_files(none, [tmp_path / "zeros.wav"]).hyps[str(tmp_path / "zeros.wav")] \
        == ""


def test_float_and_clipped_audio_give_finite_log_probs(exp, tmp_path):
    speech = synth_utterance([4], seed=1).astype(np.float32) / 32768
    loud = write(tmp_path / "loud.wav", np.clip(speech * 50, -1.0, 1.0), "FLOAT")
    model = exp.load_model()
    feats = torch.from_numpy(audio_fbank(loud, "loud", exp.feats)[0])
    assert feats.shape[0] > 0 and torch.isfinite(feats).all()
    log_probs, _ = model(exp.normalizer(None, [("loud", feats.numpy())])(feats, "loud")[None],
                         torch.tensor([feats.shape[0]]))
    assert torch.isfinite(log_probs).all()


def test_transcribe_refuses_a_file_over_max_seconds_before_reading_it(exp, tmp_path, capsys):
    path = write(tmp_path / "long.wav", np.zeros(8000 * 5, np.int16))
    rc = main(["transcribe", "--exp-dir", str(exp.path), "--max-seconds", "4", path])
    err = capsys.readouterr().err
    assert rc == 2 and f"{path}: 5.0 s of audio, over the limit of --max-seconds 4" in err
    assert "--streaming" in err and "Traceback" not in err
    assert main(["transcribe", "--exp-dir", str(exp.path), "--max-seconds", "0", path]) == 0


def test_transcribe_tops_up_each_files_stats_and_one_speaker_pools_them(tmp_path):
    """A speaker-CMVN exp: each file's speech-frame stats are topped up with the training
    stats to data.cmvn_prior_frames; --one-speaker pools the files as decode pools a
    speaker of a data dir."""
    from asr.config import load_config, save_config
    from asr.config.schema import ExperimentConfig
    from asr.data import cmvn_stats
    from asr.exp.layout import CMVN, CONFIG

    path = make_exp_dir(tmp_path / "exp")
    cfg = load_config(ExperimentConfig, path / CONFIG)
    save_config(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, cmvn="speaker")),
                path / CONFIG)
    cmvn_stats.save_stats(path / CMVN, cmvn_stats.accumulate([np.full((1000, 23), 9.0)]))
    exp = Experiment.load(path)
    files = [write(tmp_path / f"{i}.wav", synth_utterance([i], seed=i)) for i in range(3)]
    feats = {f: torch.from_numpy(audio_fbank(f, f, exp.feats)[0]) for f in files}
    lone = exp.normalizer(None, [(f, m.numpy()) for f, m in feats.items()])
    pooled = exp.normalizer(None, [(f, m.numpy()) for f, m in feats.items()],
                            {f: "one" for f in files})
    for f, m in feats.items():
        assert m.shape[0] < 200  # short files: the prior fills the rest
        own = (m - m.mean(0)) / m.std(0, unbiased=False)
        assert not torch.allclose(lone(m, f), own, atol=0.1)
    assert not torch.allclose(lone(feats[files[0]], files[0]),
                              pooled(feats[files[0]], files[0]), atol=0.1)
    assert main(["transcribe", "--exp-dir", str(path), "--one-speaker", *files]) == 0


def test_transcribe_takes_one_channel_of_a_stereo_file_and_never_downmixes(exp, tmp_path,
                                                                            capsys):
    left = synth_utterance([1], seed=0)
    call = tmp_path / "call.wav"
    soundfile.write(call, np.stack([left, np.zeros_like(left)], axis=1), 8000,
                    subtype="PCM_16")
    rc = main(["transcribe", "--exp-dir", str(exp.path), str(call)])
    assert rc == 2 and "2 channels" in capsys.readouterr().err
    write(tmp_path / "left.wav", left)
    assert main(["transcribe", "--exp-dir", str(exp.path), "--channel", "0", str(call)]) == 0
    picked = capsys.readouterr().out.split(" ", 1)[1:]
    assert main(["transcribe", "--exp-dir", str(exp.path), str(tmp_path / "left.wav")]) == 0
    assert capsys.readouterr().out.split(" ", 1)[1:] == picked
    assert main(["transcribe", "--exp-dir", str(exp.path), "--channel", "1", str(call)]) == 0
    assert capsys.readouterr().out.startswith(str(call))  # the silent side decodes too
