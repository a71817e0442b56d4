"""scripts/bench_align_long.py joins a set's utterances into one recording whose reference
CTM follows them, and prints its table for align and decode."""

import subprocess
import sys
from pathlib import Path

import soundfile

from asr.data.ctm import CtmWord, format_ctm, read_ctm
from asr.data.kaldi_dir import read_kv
from asr.testing.fixtures import make_data_dir, make_exp_dir

REPO = Path(__file__).resolve().parents[2]


def test_bench_align_long_builds_a_shifted_reference_and_prints_its_table(tmp_path):
    data = tmp_path / "set"
    texts = make_data_dir(data, num_utts=3)
    # a reference CTM that spreads each utterance's words over its duration
    ref = {}
    for utt, path in read_kv(data / "wav.scp").items():
        words, dur = texts[utt].split(), soundfile.info(path).duration
        ref[utt] = [CtmWord(w, i * dur / len(words), (i + 1) * dur / len(words))
                    for i, w in enumerate(words)]
    (data / "ref.ctm").write_text(format_ctm(ref))
    exp = make_exp_dir(tmp_path / "exp")
    out = subprocess.run([sys.executable, str(REPO / "scripts/bench_align_long.py"),
                          "--exp-dir", str(exp), "--sets", str(data), "--minutes", "0.2",
                          "--dir", str(tmp_path / "bench")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr + out.stdout
    for row in ("asr align   wall s", "asr decode  peak RSS MB", "boundary error mean / p95",
                "asr decode  score"):
        assert row in out.stdout, out.stdout
    long_ref = read_ctm(tmp_path / "bench/long/ref.ctm")["rec"]
    seconds = soundfile.info(tmp_path / "bench/long/wav/rec.wav").duration
    assert seconds >= 12 and long_ref[-1].end <= seconds + 1e-6
    text = read_kv(tmp_path / "bench/long/text")["rec"].split()
    assert [w.word for w in long_ref] == text
    assert [w.start for w in long_ref] == sorted(w.start for w in long_ref)
