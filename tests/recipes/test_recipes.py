"""The LibriSpeech recipe, every stage, on a stand-in generated in its layout
(LibriSpeech/<part>/<spk>/<chapter>/*.flac with *.trans.txt). Real corpora are never
downloaded in tests."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from asr.testing.fixtures import make_librispeech_corpus

pytestmark = pytest.mark.slow  # every test here trains a model or runs a recipe

REPO = Path(__file__).resolve().parents[2]
# the line asr decode wrote first in OUT/wer, then the method and the set (scripts/stages.sh)
# stage 6/7 lines: METHOD SET, and " chunkNms" for a stream decode
WER = re.compile(r"^%WER \d+\.\d\d \[ \d+ / \d+, \d+ ins, \d+ del, \d+ sub \] "
                 r"(\S+) (\S+(?: chunk\d+ms)?)$", re.M)


def run_recipe(name: str, *args: str) -> str:
    out = subprocess.run([str(REPO / "recipes" / name / "run.sh"), *args],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    return out.stdout


@pytest.mark.e2e
def test_librispeech_streaming_recipe_runs_every_stage_through_torchrun(tmp_path):
    parts = {"train-clean-100": 16, "dev-clean": 4, "test-clean": 4, "test-other": 4}
    corpus = make_librispeech_corpus(tmp_path / "corpus", parts)
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(f"extends: {REPO / 'recipes/librispeech/conf/conformer_streaming.yaml'}\n"
                    "model:\n  frontend: {channels: 8, output_dim: 32}\n"
                    "  encoder: {d_model: 32, num_layers: 1, ff_dim: 64, kernel_size: 5}\n"
                    "data: {max_frames: 4000}\n"
                    "train: {epochs: 2, average_last: 2, keep_last: 2, save_every_steps: 0}\n")
    args = ["--corpus-dir", str(corpus), "--data", str(tmp_path / "data"),
            "--exp", str(tmp_path / "exp"), "--train-config", str(tiny), "--nj", "2",
            "--vocab-size", "30", "--dev-parts", "dev-clean", "--average", "2",
            "--launcher", "torchrun", "--nproc", "1", "--chunk-ms", "320"]
    stdout = run_recipe("librispeech", *args)
    data, exp = tmp_path / "data", tmp_path / "exp" / "tiny"
    sp = (data / "train_sp" / "text").read_text().splitlines()
    assert len(sp) == 3 * 16 and any(line.startswith("sp0.9-") for line in sp)
    assert len((data / "train_sp" / "feats.scp").read_text().splitlines()) == 3 * 16
    assert (data / "lang_bpe30" / "sp.model").is_file()
    assert (exp / "avg-last-2.pt").is_file()
    assert sorted(WER.findall(stdout)) == sorted(  # whole, and as streams of 320 ms chunks
        (m, s + tag) for m in ("greedy", "prefix_beam") for s in ("test_clean", "test_other")
        for tag in ("", " chunk320ms"))
    # a re-run skips every stage that is complete and trains nothing again
    again = run_recipe("librispeech", *args, "--stage", "1", "--stop-stage", "3")
    assert "stage 1" not in again and "stage 3" not in again
