"""The digits recipe end to end on the real FSDD recordings, with a tiny model."""

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

from asr.data.ctm import read_ctm
from asr.testing import make_data_dir

pytestmark = pytest.mark.slow  # every test here trains a model or runs a recipe

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "digits"
WER_LINE = re.compile(r"^%WER \d+\.\d\d \[ \d+ / \d+, \d+ ins, \d+ del, \d+ sub \]$")
RTF_LINE = re.compile(r"decoded (\d+) utterances, ([\d.]+) s of audio in ([\d.]+) s: RTF ([\d.]+)$",
                      re.M)


def run(*args: str, cwd: Path = RECIPE) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory, fsdd_dir):
    work = tmp_path_factory.mktemp("digits")
    tiny = work / "tiny.yaml"
    tiny.write_text(f"extends: {RECIPE / 'conf' / 'bilstm.yaml'}\n"
                    "model:\n  frontend: {channels: 8}\n"
                    "  encoder: {num_layers: 1, hidden_size: 32}\n"
                    "train: {epochs: 2, average_last: 2}\n")
    args = ["./run.sh", "--fsdd-dir", str(fsdd_dir), "--data", str(work / "data"),
            "--exp", str(work / "exp"), "--train-config", str(tiny), "--max-takes", "12",
            "--train-passes", "1", "--decode-method", "greedy prefix_beam_lm"]
    out = run(*args)
    assert out.returncode == 0, out.stdout + out.stderr
    return work, args, out


@pytest.mark.e2e
def test_recipe_writes_a_self_contained_exp_dir(recipe_run):
    work, _, out = recipe_run
    exp = work / "exp" / "tiny"
    for name in ("config.yaml", "feats.yaml", "cmvn.ark", "lang/tokens.txt", "final.pt",
                 "checkpoints/epoch-1.pt", "checkpoints/epoch-2.pt", "log/train.log"):
        assert (exp / name).is_file(), name
    assert list((exp / "tensorboard").glob("events.out.tfevents.*"))
    assert (work / "data/lm/word_3gram.arpa").is_file()
    # trained on the fly with reverberation by the RIRs stage 2 simulated at 8 kHz
    resolved = (exp / "config.yaml").read_text()
    assert "features: on_the_fly" in resolved and f"source: {work / 'data/rirs'}" in resolved
    assert len((work / "data/rirs/wav.scp").read_text().splitlines()) == 200
    for s, m in itertools.product(("dev", "test", "test_unseen"), ("greedy", "prefix_beam_lm")):
        dec = exp / f"decode_{s}_{m}"
        hyp = (dec / "hyp").read_text().splitlines()
        ref = (work / "data" / s / "text").read_text().splitlines()
        assert [h.split()[0] for h in hyp] == [r.split()[0] for r in ref]
        assert WER_LINE.match((dec / "wer").read_text().splitlines()[0])
        assert re.search(rf"^%WER .* {m} {s}$", out.stdout, re.M)
        # word times: every hypothesis word in the CTM, in order, inside its audio
        ctm = read_ctm(dec / "ctm")
        for line in hyp:
            utt, *words = line.split()
            assert [w.word for w in ctm.get(utt, [])] == words
        # the data prep's reference times: one entry per word of the transcript
        truth = read_ctm(work / "data" / s / "ref.ctm")
        assert {u: [w.word for w in ws] for u, ws in truth.items()} == \
            {r.split()[0]: r.split()[1:] for r in ref}
        # stage 6 scores them (a 2-epoch model may match no word: then it says so)
        assert re.search(rf"^{s} greedy: boundary error: (mean [0-9.]+ ms, 95th percentile "
                         r"[0-9.]+ ms|no matched words).*;confidence: AUC", out.stdout, re.M), \
            out.stdout
    spk = {line.split()[1] for line in (work / "data/train/utt2spk").read_text().splitlines()}
    assert spk == {"george", "jackson", "lucas", "yweweler"}  # nicolas is held out
    unseen = (work / "data/test_unseen/utt2spk").read_text()
    assert set(line.split()[1] for line in unseen.splitlines()) == {"nicolas"}


@pytest.mark.e2e
def test_rerun_skips_completed_stages(recipe_run):
    _, args, _ = recipe_run
    out = run(*args)
    assert out.returncode == 0, out.stderr
    assert "stage 1" not in out.stdout and "stage 5" not in out.stdout
    assert "features complete, skipping" in out.stderr
    assert "all 2 epochs are done" in out.stderr


@pytest.mark.e2e
def test_decode_wav_only_dir_with_exp_features_and_resampling(recipe_run, tmp_path):
    work, _, _ = recipe_run
    exp = work / "exp" / "tiny"
    import soundfile

    make_data_dir(tmp_path / "d8k", num_utts=3, rate=8000)
    cmd = [sys.executable, "-m", "asr", "decode", "--exp-dir", str(exp)]
    out = run(*cmd, "--data-dir", str(tmp_path / "d8k"), "--out", str(tmp_path / "o8k"))
    assert out.returncode == 0, out.stderr
    assert WER_LINE.match((tmp_path / "o8k" / "wer").read_text().splitlines()[0])
    [(n, audio, seconds, rtf)] = RTF_LINE.findall(out.stderr)
    wavs = [line.split()[1] for line in (tmp_path / "d8k/wav.scp").read_text().splitlines()]
    duration = sum(soundfile.info(w).duration for w in wavs)
    # audio is counted in 10 ms frames (a window's worth short of each file); one decimal
    assert int(n) == 3 and float(audio) == pytest.approx(duration, abs=0.15)
    slack = 0.051 * (1 + float(rtf))  # both times are printed to 0.1 s
    assert float(rtf) * float(audio) == pytest.approx(float(seconds), abs=slack)
    assert not (tmp_path / "d8k" / "feats.scp").exists()
    make_data_dir(tmp_path / "d16k", num_utts=2, rate=16000)
    out = run(*cmd, "--data-dir", str(tmp_path / "d16k"), "--out", str(tmp_path / "o16k"))
    assert out.returncode == 2 and "is 16000 Hz but the features are configured for 8000 Hz" \
        in out.stderr and "Traceback" not in out.stderr
    out = run(*cmd, "--data-dir", str(tmp_path / "d16k"), "--out", str(tmp_path / "o16k"),
              "--allow-resample")
    assert out.returncode == 0, out.stderr
    assert len((tmp_path / "o16k" / "hyp").read_text().splitlines()) == 2


def test_missing_fsdd_dir_is_a_clear_error(tmp_path):
    out = run("./run.sh", "--fsdd-dir", str(tmp_path / "nowhere"), "--data",
              str(tmp_path / "data"), "--exp", str(tmp_path / "exp"))
    assert out.returncode != 0
    assert f"FSDD dir '{tmp_path / 'nowhere'}' does not exist" in out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_option_fails():
    out = run("./run.sh", "--no-such-option", "1")
    assert out.returncode != 0 and "unknown option --no-such-option" in out.stderr


def test_stage0_downloads_when_no_dir_is_given(tmp_path):
    """No --fsdd-dir and no FSDD_DIR: stage 0 fetches the pinned archive (a local one here)."""
    import io
    import os
    import tarfile

    import numpy as np
    import soundfile

    commit = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"
    wav = io.BytesIO()
    soundfile.write(wav, np.zeros(800, np.int16), 8000, format="WAV", subtype="PCM_16")
    archive = tmp_path / "fsdd.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in [f"{d}_{s}_{i}.wav" for d in range(10) for s in "abcde" for i in range(50)]:
            info = tarfile.TarInfo(f"free-spoken-digit-dataset-{commit}/recordings/{name}")
            info.size = len(wav.getvalue())
            tar.addfile(info, io.BytesIO(wav.getvalue()))
    env = {k: v for k, v in os.environ.items() if k != "FSDD_DIR"}
    env["FSDD_URL"] = f"file://{archive}"
    out = subprocess.run(["./run.sh", "--stop-stage", "0", "--data", str(tmp_path / "w/data"),
                          "--exp", str(tmp_path / "w/exp")], cwd=RECIPE, env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    recordings = tmp_path / "w/downloads/fsdd/recordings"
    assert len(list(recordings.glob("*.wav"))) == 2500
    assert (recordings.parent / ".complete").exists()


@pytest.mark.e2e
def test_transcribe_files_and_decode_with_any_checkpoint_file(recipe_run, fsdd_dir, tmp_path):
    work, _, _ = recipe_run
    exp = work / "exp" / "tiny"
    wavs = [str(fsdd_dir / "3_nicolas_1.wav"), str(fsdd_dir / "7_george_3.wav")]
    cmd = [sys.executable, "-m", "asr", "transcribe", "--exp-dir", str(exp)]
    out = run(*cmd, *wavs, "--method", "prefix_beam", "--lm",
              str(work / "data/lm/word_3gram.arpa"))
    assert out.returncode == 0, out.stderr
    lines = [line.split(" ", 1) for line in out.stdout.splitlines()]
    assert [line[0] for line in lines] == wavs  # '<file> <text>'
    # the tiny model does not spell digits yet: its text must still be made of the tokens
    letters = {t for t in (exp / "lang/tokens.txt").read_text().split()[::2]
               if not t.startswith("<") and t != "\u2581"}
    texts = [line[1] if len(line) == 2 else "" for line in lines]
    assert all(t.strip() and set(t.replace(" ", "")) <= letters for t in texts), texts
    # and it is what 'asr decode' finds with the same search in a dir of the same files
    # (each file its own speaker, as transcribe normalizes it)
    (tmp_path / "files").mkdir()
    (tmp_path / "files/wav.scp").write_text("".join(f"f{i} {w}\n" for i, w in enumerate(wavs)))
    (tmp_path / "files/utt2spk").write_text("".join(f"f{i} f{i}\n" for i in range(len(wavs))))
    out = run(sys.executable, "-m", "asr", "decode", "--exp-dir", str(exp), "--data-dir",
              str(tmp_path / "files"), "--out", str(tmp_path / "of"), "--method", "prefix_beam",
              "--lm", str(work / "data/lm/word_3gram.arpa"))
    assert out.returncode == 0, out.stderr
    hyps = dict(line.partition(" ")[::2] for line in (tmp_path / "of/hyp").read_text().splitlines())
    assert [hyps[f"f{i}"] for i in range(len(wavs))] == texts
    out = run(*cmd, str(tmp_path / "missing.wav"))
    assert out.returncode == 2 and "missing.wav" in out.stderr and "Traceback" not in out.stderr
    # a checkpoint given by path, as 'asr average' writes one: {"model": state_dict, ...}
    ckpt = tmp_path / "avg.pt"
    ckpt.write_bytes((exp / "checkpoints" / "epoch-1.pt").read_bytes())
    out = run(sys.executable, "-m", "asr", "decode", "--exp-dir", str(exp), "--checkpoint",
              str(ckpt), "--data-dir", str(work / "data/test"), "--out", str(tmp_path / "o"))
    assert out.returncode == 0, out.stderr
    assert WER_LINE.match((tmp_path / "o" / "wer").read_text().splitlines()[0])


@pytest.mark.e2e
def test_streaming_config_trains_and_stage_5_decodes_whole_and_as_streams(recipe_run):
    """conf/conformer_streaming.yaml, shrunk, on the fixture's data: stage 5 decodes every
    set whole and as streams of each --chunk-ms, stage 6 prints both kinds of line."""
    work, _, _ = recipe_run
    tiny = work / "tiny_streaming.yaml"
    tiny.write_text(f"extends: {RECIPE / 'conf' / 'conformer_streaming.yaml'}\n"
                    "model:\n  frontend: {channels: 8, output_dim: 32}\n"
                    "  encoder: {num_layers: 1, d_model: 32, num_heads: 2, ff_dim: 64}\n"
                    "train: {epochs: 1, average_last: 1}\n")
    out = run("./run.sh", "--stage", "4", "--data", str(work / "data"), "--exp",
              str(work / "exp"), "--train-config", str(tiny), "--decode-sets", "dev test",
              "--chunk-ms", "320 160")
    assert out.returncode == 0, out.stdout + out.stderr
    exp = work / "exp" / "tiny_streaming"
    for s, tag in itertools.product(("dev", "test"), ("", " chunk320ms", " chunk160ms")):
        dec = exp / f"decode_{s}_greedy{tag.replace(' ', '_')}"
        assert WER_LINE.match((dec / "wer").read_text().splitlines()[0]), dec
        assert re.search(rf"^%WER .* greedy {s}{tag}$", out.stdout, re.M), (s, tag)
    # the stream decode is asr decode --streaming, whatever dir it is written to
    again = run(sys.executable, "-m", "asr", "decode", "--exp-dir", str(exp), "--data-dir",
                str(work / "data/test"), "--out", str(work / "again"), "--streaming",
                "--chunk-ms", "320")
    assert again.returncode == 0, again.stderr
    assert (work / "again/hyp").read_text() == \
        (exp / "decode_test_greedy_chunk320ms/hyp").read_text()
