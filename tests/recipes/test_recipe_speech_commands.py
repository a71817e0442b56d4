"""The Speech Commands recipe end to end on the real recordings (a few speakers, a tiny
model), and its data split and download on generated stand-ins in the corpus's layout."""

import itertools
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

pytestmark = pytest.mark.slow  # every test here runs the recipe

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "speech_commands"
SETS = ("train", "dev", "test")
METHODS = ("greedy", "prefix_beam", "prefix_beam_lm")
WER_LINE = re.compile(r"^%WER \d+\.\d\d \[ \d+ / \d+, \d+ ins, \d+ del, \d+ sub \]$")


@pytest.fixture(scope="session")
def speech_commands_dir() -> Path:
    """The real Speech Commands subset; the end-to-end test needs it (CI sets
    SPEECH_COMMANDS_DIR)."""
    value = os.environ.get("SPEECH_COMMANDS_DIR")
    default = Path(__file__).resolve().parents[3] / "shared/data/speech_commands"
    c = Path(value) if value else default
    if c.is_dir() and any(c.glob("*/*_nohash_*.wav")):
        return c
    pytest.fail(f"Speech Commands not found at {c}: set SPEECH_COMMANDS_DIR to the folder of "
                "<word>/<speaker>_nohash_<n>.wav files (../shared/data/speech_commands)")


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=RECIPE, capture_output=True, text=True, env=env)


def speakers(data: Path, s: str) -> set[str]:
    return {line.split()[1] for line in (data / s / "utt2spk").read_text().splitlines()}


@pytest.mark.e2e
def test_recipe_runs_every_stage_on_disjoint_speakers(tmp_path, speech_commands_dir):
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(f"extends: {RECIPE / 'conf' / 'bilstm.yaml'}\n"
                    "model:\n  frontend: {channels: 8}\n"
                    "  encoder: {num_layers: 1, hidden_size: 32}\n"
                    "data: {augment: {start_epoch: 1}}\n"  # augment from epoch 1
                    "train: {epochs: 1, average_last: 1}\n")
    data, exp = tmp_path / "data", tmp_path / "exp" / "tiny"
    out = run("./run.sh", "--corpus-dir", str(speech_commands_dir), "--data", str(data),
              "--exp", str(tmp_path / "exp"), "--train-config", str(tiny), "--max-speakers", "3",
              "--vocab-size", "40")  # bpe 140 needs all 35 words; 3 speakers say ~14
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    spk = {s: speakers(data, s) for s in SETS}
    assert all(0 < len(spk[s]) <= 3 for s in SETS), spk
    assert not (spk["train"] & spk["dev"] or spk["train"] & spk["test"] or spk["dev"] & spk["test"])
    for s in SETS:
        v = subprocess.run([sys.executable, "-m", "asr", "validate-data", str(data / s)],
                           capture_output=True, text=True)
        assert v.returncode == 0 and "no problems" in v.stdout, v.stdout + v.stderr
        for line in (data / s / "text").read_text().splitlines():
            utt, word = line.split()  # one word, upper case; utt id <speaker>-<word>-<n>
            spk_id, w, n = utt.split("-")
            assert word == w.upper() and n.isdigit() and spk_id in spk[s]
    assert (data / "lm/word_1gram.arpa").is_file() and (exp / "final.pt").is_file()
    resolved = (exp / "config.yaml").read_text()  # the corpus's noise is offered and
    assert f"source: {speech_commands_dir / '_background_noise_'}" in resolved  # the made RIRs used
    assert f"source: {data / 'rirs'}" in resolved and (data / "rirs/wav.scp").is_file()
    for s in ("dev", "test"):
        ref = [line.split()[0] for line in (data / s / "text").read_text().splitlines()]
        for m in METHODS:
            dec = exp / f"decode_{s}_{m}"
            assert [h.split()[0] for h in (dec / "hyp").read_text().splitlines()] == ref
            assert WER_LINE.match((dec / "wer").read_text().splitlines()[0])
            assert re.search(rf"^%WER .* {m} {s}$", out.stdout, re.M)


    # the streaming config, shrunk as tiny.yaml, starts from that BiLSTM and streams
    lc = tmp_path / "tiny_lc.yaml"
    lc.write_text(f"extends: {RECIPE / 'conf' / 'lc_bilstm_streaming.yaml'}\n"
                  "model:\n  frontend: {channels: 8}\n"
                  "  encoder: {num_layers: 1, hidden_size: 32}\n"
                  "train: {epochs: 1, average_last: 1}\n")
    out = run("./run.sh", "--stage", "4", "--corpus-dir", str(speech_commands_dir), "--data",
              str(data), "--exp", str(tmp_path / "exp"), "--train-config", str(lc),
              "--vocab-size", "40", "--init-from", str(exp / "final.pt"),
              "--decode-method", "greedy", "--chunk-ms", "320")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    lc_exp = tmp_path / "exp" / "tiny_lc"
    log = (lc_exp / "log" / "train.log").read_text()
    assert re.search(r"initialized (\d+) of \1 tensors from .*final.pt; random: none", log)
    for s, tag in itertools.product(("dev", "test"), ("", " chunk320ms")):
        dec = lc_exp / f"decode_{s}_greedy{tag.replace(' ', '_')}"
        assert WER_LINE.match((dec / "wer").read_text().splitlines()[0]), dec
        assert re.search(rf"^%WER .* greedy {s}{tag}$", out.stdout, re.M), (s, tag)


def make_corpus(root: Path, lists: bool) -> None:
    """12 speakers x 2 words x 2 clips of silence, as <word>/<speaker>_nohash_<n>.wav."""
    silence = np.zeros(1600, np.int16)
    names = [f"{w}/{s:08x}_nohash_{n}.wav" for w in ("yes", "no") for s in range(12)
             for n in range(2)]
    for name in names + ["_background_noise_/white_noise.wav"]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(root / name, silence, 16000, subtype="PCM_16")
    if lists:  # speakers 0-1 in validation, 2-3 in testing, as the real lists keep them
        (root / "validation_list.txt").write_text(
            "".join(f"{n}\n" for n in names if int(n.split("/")[1][:8], 16) < 2))
        (root / "testing_list.txt").write_text(
            "".join(f"{n}\n" for n in names if 2 <= int(n.split("/")[1][:8], 16) < 4))


def test_official_lists_are_used_and_stage0_downloads(tmp_path):
    """No --corpus-dir, no SPEECH_COMMANDS_DIR: stage 0 fetches the archive (a local one
    here); its validation/testing lists then make dev and test."""
    corpus = tmp_path / "archive"
    make_corpus(corpus, lists=True)
    archive = tmp_path / "sc.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for p in sorted(corpus.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(corpus)), recursive=False)
    env = {k: v for k, v in os.environ.items() if k != "SPEECH_COMMANDS_DIR"}
    env.update(SPEECH_COMMANDS_URL=f"file://{archive}", SPEECH_COMMANDS_MIN_CLIPS="48")
    data = tmp_path / "w/data"
    out = run("./run.sh", "--stop-stage", "1", "--data", str(data), "--exp",
              str(tmp_path / "w/exp"), env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "w/downloads/speech_commands_v0.02/.complete").is_file()
    assert "validation_list.txt and testing_list.txt" in out.stderr
    want = {"dev": {0, 1}, "test": {2, 3}, "train": set(range(4, 12))}
    assert {s: {int(x, 16) for x in speakers(data, s)} for s in SETS} == want
    assert "YES" in (data / "train/text").read_text()


def test_speaker_hash_split_without_lists(tmp_path):
    make_corpus(tmp_path / "corpus", lists=False)
    out = run("./run.sh", "--corpus-dir", str(tmp_path / "corpus"), "--stop-stage", "1",
              "--data", str(tmp_path / "data"), "--dev-percent", "25", "--test-percent", "25")
    assert out.returncode == 0, out.stdout + out.stderr
    spk = {s: speakers(tmp_path / "data", s) for s in SETS}
    assert sum(map(len, spk.values())) == 12 and len(set().union(*spk.values())) == 12
    assert all(spk.values()) and "speaker hash (seed 0)" in out.stderr


def test_missing_corpus_dir_is_a_clear_error(tmp_path):
    out = run("./run.sh", "--corpus-dir", str(tmp_path / "nowhere"), "--data",
              str(tmp_path / "data"), "--exp", str(tmp_path / "exp"))
    assert out.returncode != 0
    assert f"Speech Commands dir '{tmp_path / 'nowhere'}' does not exist" in out.stderr
    assert "Traceback" not in out.stderr
