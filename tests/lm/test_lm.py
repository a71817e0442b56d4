"""n-gram LM: Witten-Bell training gives normalized distributions, ARPA files round-trip,
bad ARPA input names its line, and ``asr train-lm`` writes a model from a Kaldi text."""

import math
import subprocess
import sys

import pytest
from lm_helpers import read_arpa_model

from asr.errors import DataError
from asr.lm.arpa import BOS, EOS, UNK, write_arpa
from asr.lm.arpa_arrays import read_arpa_arrays
from asr.lm.ngram import train_witten_bell

SENTS = [s.split() for s in ["ONE TWO THREE", "TWO TWO", "THREE ONE TWO", "FOUR", "ONE TWO"]]


@pytest.mark.parametrize("order", [1, 2, 3])
def test_witten_bell_is_normalized_after_seen_and_unseen_histories(order):
    model = train_witten_bell(SENTS, order)
    words = [w for w in model.vocab if w != BOS]
    assert set(words) == {"ONE", "TWO", "THREE", "FOUR", EOS, UNK}
    for history in ([BOS], [BOS, "ONE"], ["TWO", "TWO"], ["FOUR", "ONE"], ["NEVER", "SEEN"]):
        total = sum(10 ** model.logprob(w, history) for w in words)
        assert total == pytest.approx(1.0, abs=1e-9), history


def test_witten_bell_prefers_seen_continuations_and_scores_oov_as_unk():
    model = train_witten_bell(SENTS, 3)
    assert model.logprob("TWO", [BOS, "ONE"]) > model.logprob("FOUR", [BOS, "ONE"])
    assert model.logprob("ZEBRA", ["ONE"]) == model.logprob(UNK, ["ONE"])
    assert model.sentence_logprob("ONE TWO".split()) > model.sentence_logprob("TWO ONE".split())


def test_arpa_round_trip(tmp_path):
    model = train_witten_bell(SENTS, 3)
    write_arpa(tmp_path / "lm.arpa", model)
    back = read_arpa_model(tmp_path / "lm.arpa")
    assert [g.keys() for g in back.ngrams] == [g.keys() for g in model.ngrams]
    for k, grams in enumerate(model.ngrams):  # to the 6 decimals written; none at the top order
        for g, (p, bo) in grams.items():
            want = (p, bo if k + 1 < model.order else 0.0)
            assert back.ngrams[k][g] == pytest.approx(want, abs=5e-7), g
    for s in ([], ["ONE", "TWO"], ["FOUR", "FOUR", "ZEBRA"]):
        assert back.sentence_logprob(s) == pytest.approx(model.sentence_logprob(s), abs=1e-5)


def test_bad_arpa_names_file_and_line(tmp_path):
    p = tmp_path / "bad.arpa"
    p.write_text("\\data\\\nngram 1=2\n\n\\1-grams:\n-1.0\t</s>\n-0.5 ONE TWO 3\n\\end\\\n")
    with pytest.raises(DataError, match=r"bad.arpa:6: expected log10 prob, 1 words"):
        read_arpa_arrays(p)
    p.write_text("\\data\\\nngram 1=3\n\n\\1-grams:\n-1.0\t</s>\n-0.5\tONE\n\\end\\\n")
    with pytest.raises(DataError, match="header says 3 1-grams, found 2"):
        read_arpa_arrays(p)
    p.write_text("hello\n")
    with pytest.raises(DataError, match="bad.arpa:1: not an ARPA file"):
        read_arpa_arrays(p)


def test_train_lm_command_word_and_token_level(tmp_path):
    (tmp_path / "text").write_text("u1 ONE TWO\nu2 TWO THREE\n")
    for level, want in (("word", {"ONE", "TWO", "THREE"}), ("char", {"O", "N", "E", "\u2581"})):
        out = subprocess.run([sys.executable, "-m", "asr", "train-lm", "--text",
                              str(tmp_path / "text"), "--order", "2", "--level", level,
                              "--out", str(tmp_path / f"{level}.arpa")],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        model = read_arpa_model(tmp_path / f"{level}.arpa")
        assert want <= set(model.vocab) and model.order == 2
        assert "perplexity" in out.stderr
    assert math.isfinite(read_arpa_model(tmp_path / "word.arpa").sentence_logprob(["ONE"]))
