"""The AN4 recipe: its data preparation on generated stand-ins in both official layouts
(big-endian .raw and NIST .sph, with and without the test part), the download's checksum
refusal, and the whole recipe on the real training part (CI sets AN4_DIR)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

from asr.data.audio import load_audio
from asr.data.kaldi_dir import DataDir

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "an4"
WER = re.compile(r"^%WER (\d+\.\d\d) \[ \d+ / \d+, \d+ ins, \d+ del, \d+ sub \] (\S+) (\S+)$",
                 re.M)
CER = re.compile(r"^%CER (\d+\.\d\d) \[ .* \] (\S+) (\S+)$", re.M)
AN4_CI_MAX_WER = 80.0  # measured: see RESULTS.md ("CI run")


def make_an4(root: Path, fmt: str, with_test: bool, seed: int = 0) -> Path:
    """An an4 folder of the official layout: 3 training speakers (2, 3 and 4 utterances),
    and 1 test speaker with 2, as .raw (16-bit big-endian) or .sph."""
    rng = np.random.default_rng(seed)
    an4 = root / "an4"
    (an4 / "etc").mkdir(parents=True)
    parts = {"train": ("an4_clstk", {"fabc": 2, "mdef": 3, "mghi": 4})}
    if with_test:
        parts["test"] = ("an4test_clstk", {"fjkl": 2})
    for part, (folder, speakers) in parts.items():
        ids, trans = [], []
        for spk, n in speakers.items():
            (an4 / "wav" / folder / spk).mkdir(parents=True)
            for i in range(n):
                file_id = f"an{100 + i}-{spk}-b"
                samples = (rng.standard_normal(4000) * 1000).astype(np.int16)
                stem = an4 / "wav" / folder / spk / file_id
                if fmt == "raw":
                    stem.with_suffix(".raw").write_bytes(samples.astype(">i2").tobytes())
                else:
                    soundfile.write(stem.with_suffix(".sph"), samples, 16000, format="NIST",
                                    subtype="PCM_16")
                ids.append(f"{folder}/{spk}/{file_id}")
                words = f"{'ABC'[i % 3]} {i} TWO"
                trans.append(f"<s> {words} </s> ({file_id})" if part == "train"
                             else f"{words} ({file_id})")
        (an4 / "etc" / f"an4_{part}.fileids").write_text("\n".join(ids) + "\n")
        (an4 / "etc" / f"an4_{part}.transcription").write_text("\n".join(trans) + "\n")
    return an4


def prepare(an4: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(RECIPE / "local/prepare_an4.py"),
                           "--corpus-dir", str(an4), "--out", str(out), *extra],
                          capture_output=True, text=True)


@pytest.mark.parametrize("fmt", ["raw", "sph"])
def test_prepare_reads_both_layouts_and_holds_out_whole_speakers(tmp_path, fmt):
    an4 = make_an4(tmp_path, fmt, with_test=True)
    r = prepare(an4, tmp_path / "data", "--dev-utts", "2")
    assert r.returncode == 0, r.stderr
    sets = {s: DataDir.load(tmp_path / "data" / s) for s in ("train", "dev", "test")}
    assert len(sets["dev"].utt_ids) == 2 and len(sets["train"].utt_ids) == 7
    assert len(sets["test"].utt_ids) == 2
    spk = {s: set(d.utt2spk.values()) for s, d in sets.items()}
    assert spk["dev"] == {"fabc"} and spk["train"] == {"mdef", "mghi"} and spk["test"] == {"fjkl"}
    utt = "mdef-an101-mdef-b"
    assert sets["train"].text[utt] == "B 1 TWO"  # <s> and </s> removed
    assert sets["test"].text["fjkl-an100-fjkl-b"] == "A 0 TWO"  # test lines have no tags
    # the samples are the file's, whatever its format (big-endian raw, or SPHERE)
    stem = an4 / "wav/an4_clstk/mdef/an101-mdef-b"
    want = (np.frombuffer(stem.with_suffix(".raw").read_bytes(), ">i2") if fmt == "raw"
            else soundfile.read(stem.with_suffix(".sph"), dtype="int16")[0])
    got, rate = load_audio(sets["train"].wav_scp[utt], utt)
    assert rate == 16000 and np.array_equal(got.numpy(), want.astype(np.float32))


def test_prepare_without_the_test_part_and_bad_input(tmp_path):
    an4 = make_an4(tmp_path, "raw", with_test=False)
    r = prepare(an4, tmp_path / "data", "--dev-utts", "2")
    assert r.returncode == 0 and "no test set" in r.stderr
    assert not (tmp_path / "data" / "test").exists()
    trans = an4 / "etc" / "an4_train.transcription"
    trans.write_text(trans.read_text().replace("(an101-mdef-b)", "an101-mdef-b"))
    r = prepare(an4, tmp_path / "data2")
    assert r.returncode == 2
    assert f"{trans}:4: not an AN4 transcript line" in r.stderr  # the file and the line
    r = prepare(tmp_path / "nowhere", tmp_path / "data3")
    assert r.returncode == 2 and "AN4_DIR" in r.stderr


def test_download_checks_the_archive_before_unpacking(tmp_path):
    src = tmp_path / "src"
    an4 = make_an4(src, "sph", with_test=True)
    (an4 / "wav/an4_clstk/extra").mkdir()  # not the 1078 files of the real corpus
    archive = tmp_path / "an4_sphere.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(an4, arcname="an4")
    env = {**os.environ, "AN4_URL": f"file://{archive}"}
    r = subprocess.run([str(RECIPE / "local/download_an4.sh"), str(tmp_path / "dl")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "expected a0525579" in r.stderr  # the pinned checksum
    assert not (tmp_path / "dl" / "an4").exists()  # nothing unpacked
    sha = subprocess.run(["sha256sum", str(archive)], capture_output=True, text=True)
    env["AN4_SHA256"] = sha.stdout.split()[0]
    r = subprocess.run([str(RECIPE / "local/download_an4.sh"), str(tmp_path / "dl")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "expected at least 1078 files named '*.sph'" in r.stderr
    assert (tmp_path / "dl/an4/etc/an4_train.fileids").is_file()
    assert not (tmp_path / "dl/an4/.complete").exists()  # so the next run fetches it again


@pytest.mark.e2e
def test_recipe_learns_the_real_training_part(tmp_path, an4_dir):
    """Every stage on the real AN4 training part (CI sets AN4_DIR), shrunk to fit CI: the
    recipe's config with a smaller BiLSTM and fewer epochs. Its dev %WER (100 utterances of
    8 held-out speakers) must be far below what an empty or all-blank output gets (100)."""
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(f"extends: {RECIPE / 'conf' / 'bilstm.yaml'}\n"
                    "model:\n  encoder: {num_layers: 2, hidden_size: 128}\n"
                    "train: {epochs: 6, average_last: 2}\n")
    out = subprocess.run([str(RECIPE / "run.sh"), "--corpus-dir", str(an4_dir),
                          "--data", str(tmp_path / "data"), "--exp", str(tmp_path / "exp"),
                          "--train-config", str(tiny), "--decode-method", "greedy prefix_beam"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    wer = {(m, s): float(v) for v, m, s in WER.findall(out.stdout)}
    cer = {(m, s): float(v) for v, m, s in CER.findall(out.stdout)}
    assert set(wer) == set(cer) == {("greedy", "dev"), ("prefix_beam", "dev")}, out.stdout
    assert max(wer.values()) <= AN4_CI_MAX_WER, out.stdout
    assert max(cer.values()) < max(wer.values()), out.stdout  # letters right inside words
