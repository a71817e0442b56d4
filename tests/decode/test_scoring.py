"""Scoring: per-utterance alignments and counts, the per-speaker table, the score command."""

import subprocess
import sys

import pytest

from asr.errors import DataError
from asr.scoring import score

REFS = {"a-1": "ONE TWO THREE", "a-2": "FOUR", "b-1": "FIVE SIX", "b-2": "SEVEN"}
HYPS = {"a-1": "ONE TOO THREE NINE", "a-2": "", "b-1": "FIVE SIX", "b-2": "SEVEN"}
UTT2SPK = {"a-1": "alice", "a-2": "alice", "b-1": "bob", "b-2": "bob"}


def test_alignment_lines_and_counts():
    report = score(REFS, HYPS)
    assert report.summary() == "%WER 42.86 [ 3 / 7, 1 ins, 1 del, 1 sub ]"
    lines = report.render().splitlines()
    i = lines.index("a-1 ref  ONE TWO THREE ***")
    assert lines[i + 1:i + 4] == ["a-1 hyp  ONE TOO THREE NINE", "a-1 op   C S C I",
                                  "a-1 #csid 2 1 1 0"]
    assert "a-2 #csid 0 0 0 1" in lines


def test_speaker_table_sums_to_the_total():
    table = score(REFS, HYPS).speaker_table(UTT2SPK).splitlines()
    assert table[0].split() == ["speaker", "#utts", "#words", "%WER", "S", "I", "D"]
    assert table[1].split() == ["alice", "2", "4", "75.00", "1", "1", "1"]
    assert table[2].split() == ["bob", "2", "3", "0.00", "0", "0", "0"]
    assert table[3].split() == ["SUM", "4", "7", "42.86", "1", "1", "1"]
    with pytest.raises(DataError, match="'b-2' is not in the utt2spk"):
        score(REFS, HYPS).speaker_table({"a-1": "alice", "a-2": "alice", "b-1": "bob"})


def test_score_command_with_cer_and_utt2spk(tmp_path):
    for name, kv in (("ref", REFS), ("hyp", HYPS), ("utt2spk", UTT2SPK)):
        (tmp_path / name).write_text("".join(f"{k} {v}\n" for k, v in kv.items()))
    cmd = [sys.executable, "-m", "asr", "score", str(tmp_path / "ref"), str(tmp_path / "hyp")]
    out = subprocess.run([*cmd, "--utt2spk", str(tmp_path / "utt2spk")], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "%WER 42.86 [ 3 / 7, 1 ins, 1 del, 1 sub ]"
    assert lines[1].split()[:4] == ["speaker", "#utts", "#words", "%WER"]
    assert lines[4].split()[0] == "SUM" and "a-1 op   C S C I" in lines
    out = subprocess.run([*cmd, "--cer", "--out", str(tmp_path / "cer")], capture_output=True,
                         text=True)
    # ONETWOTHREE -> ONETOOTHREENINE: W->O (1 sub) + NINE (4 ins); FOUR deleted (4 del)
    assert out.stdout == "%CER 33.33 [ 9 / 27, 4 ins, 4 del, 1 sub ]\n"
    assert (tmp_path / "cer").read_text().startswith(out.stdout)


def test_boundary_errors_over_matched_words_only():
    from asr.data.ctm import CtmWord
    from asr.scoring import score_timing

    ref = {"u": [CtmWord("ONE", 0.0, 0.5), CtmWord("TWO", 0.6, 1.0), CtmWord("SIX", 1.2, 1.5)]}
    hyp = {"u": [CtmWord("ONE", 0.02, 0.45), CtmWord("TEN", 0.6, 1.0),
                 CtmWord("SIX", 1.3, 1.5)]}
    r = score_timing(ref, hyp)
    assert r.matched == 2 and r.ref_words == 3
    assert sorted(r.errors_ms) == pytest.approx([0.0, 20.0, 50.0, 100.0])
    assert "mean 42.5 ms" in r.summary() and "max 100.0 ms" in r.summary()
    assert "no matched words" in score_timing(ref, {}).summary()


def test_confidence_scores_separate_right_from_wrong_words():
    from asr.data.ctm import CtmWord
    from asr.scoring import score_confidence

    refs = {"u": "ONE TWO THREE FOUR"}
    words = ["ONE", "TEN", "THREE", "FIVE"]

    def ctm(confs):
        pairs = enumerate(zip(words, confs, strict=True))
        return {"u": [CtmWord(w, i, i + 1, c) for i, (w, c) in pairs]}

    perfect = score_confidence(refs, ctm([0.99, 0.01, 0.99, 0.01]))
    assert perfect.auc == 1.0 and perfect.nce > 0.9 and perfect.correct == 2
    backwards = score_confidence(refs, ctm([0.1, 0.9, 0.1, 0.9]))
    assert backwards.auc == 0.0 and backwards.nce < 0
    constant = score_confidence(refs, ctm([0.5] * 4))  # the rate of right words
    assert constant.auc == 0.5 and constant.nce == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(DataError, match="has no reference"):
        score_confidence({}, ctm([0.5] * 4))
