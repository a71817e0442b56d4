"""What a decode gives beyond the text: n-best lists with scores, word times and
confidences in a CTM and a JSON line per utterance, offline and streaming, from decode and
transcribe; and forced alignment of known transcripts, which flags ones that do not fit."""

import json
import math

import pytest
import soundfile
import torch
from test_streaming_recognizer import streaming_exp

from asr.cli import main
from asr.data.ctm import read_ctm
from asr.data.kaldi_dir import read_kv
from asr.data.tokenizer import BLANK, SPACE, UNK, CharTokenizer
from asr.decode.align import Aligner
from asr.decode.timing import FrameClock, HypothesisTimer


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return streaming_exp(tmp_path_factory.mktemp("details"))


def durations(data) -> dict[str, float]:
    return {u: soundfile.info(p).duration for u, p in read_kv(data / "wav.scp").items()}


def check_outputs(out, data, nbest: int) -> None:
    hyps = read_kv(out / "hyp", allow_empty=True)
    records = [json.loads(line) for line in (out / "hyp.jsonl").read_text().splitlines()]
    assert [r["utt"] for r in records] == list(read_kv(data / "text"))
    ctm = read_ctm(out / "ctm")
    lengths = durations(data)
    for r in records:
        assert r["text"] == hyps[r["utt"]]
        assert [w["word"] for w in r["words"]] == r["text"].split()
        assert [w.word for w in ctm.get(r["utt"], [])] == r["text"].split()
        starts = [w["start"] for w in r["words"]]
        assert starts == sorted(starts)
        for item in r["words"] + r["tokens"]:
            assert 0 <= item["start"] <= item["end"] <= lengths[r["utt"]] + 0.05
            assert 0 <= item["conf"] <= 1
        assert r["path_logp"] <= 0
        if nbest > 1:
            scores = [n["score"] for n in r["nbest"]]
            assert 1 <= len(scores) <= nbest and scores == sorted(scores, reverse=True)
            assert r["nbest"][0]["text"] == r["text"] and r["score"] == scores[0]


@pytest.mark.parametrize("streaming", [False, True])
def test_decode_writes_ctm_and_json_with_nbest(setup, tmp_path, streaming):
    exp, data = setup
    out = tmp_path / "dec"
    args = ["decode", "--exp-dir", str(exp), "--data-dir", str(data), "--out", str(out),
            "--method", "prefix_beam", "--beam", "4", "--nbest", "3", "--ctm", "--json"]
    assert main(args + (["--streaming"] if streaming else [])) == 0
    check_outputs(out, data, 3)
    # a later decode without them leaves no stale ctm or json behind
    assert main(args[:7]) == 0
    assert not (out / "ctm").exists() and not (out / "hyp.jsonl").exists()


def test_greedy_decode_times_its_hypothesis(setup, tmp_path):
    exp, data = setup
    out = tmp_path / "greedy"
    assert main(["decode", "--exp-dir", str(exp), "--data-dir", str(data), "--out", str(out),
                 "--json", "--ctm", "--confidence", "prob"]) == 0
    check_outputs(out, data, 1)


def test_transcribe_prints_nbest_and_word_times(setup, capsys):
    exp, data = setup
    wav = next(iter(read_kv(data / "wav.scp").values()))
    assert main(["transcribe", "--exp-dir", str(exp), "--method", "prefix_beam", "--nbest",
                 "2", "--timestamps", wav]) == 0
    lines = capsys.readouterr().out.splitlines()
    text = lines[0][len(wav) + 1:]
    assert lines[1].startswith(f"{wav} nbest 1 ") and lines[1].endswith(text)
    ctm_lines = [ln.split() for ln in lines if ln.split()[1] == "1" and len(ln.split()) == 6]
    assert [f[4] for f in ctm_lines] == text.split()


def test_align_times_the_transcripts(setup, tmp_path, capsys):
    exp, data = setup
    out = tmp_path / "ali"
    assert main(["align", "--exp-dir", str(exp), "--data-dir", str(data), "--out",
                 str(out), "--threshold=-1e9"]) == 0
    assert "aligned 3 utterances, 0 flagged" in capsys.readouterr().out
    texts = read_kv(data / "text")
    ctm = read_ctm(out / "ctm")
    assert {u: [w.word for w in ws] for u, ws in ctm.items()} == \
        {u: t.split() for u, t in texts.items()}
    scores = {u: float(s) for u, s in read_kv(out / "scores").items()}
    assert set(scores) == set(texts) and all(s <= 0 for s in scores.values())
    assert (out / "flagged").read_text() == ""


TOKENS = [BLANK, UNK, SPACE, "O", "N", "E", "T", "W"]


def spoken(text: str, tok: CharTokenizer, frames_per_token: int = 3) -> torch.Tensor:
    """Log-probs (T, V) of a model sure of ``text``: each token a spike, blanks between."""
    labels = []
    for i in tok.encode(text):
        labels += [i] + [0] * (frames_per_token - 1)
    lp = torch.full((len(labels) + 2, len(TOKENS)), 0.02)
    lp[torch.arange(len(labels)), torch.tensor(labels)] = 0.86
    lp[len(labels):, 0] = 0.86
    return (lp / lp.sum(-1, keepdim=True)).log()


def test_a_transcript_that_does_not_fit_is_flagged_and_one_that_fits_is_not():
    tok = CharTokenizer(TOKENS)
    heard = {"a": "ONE TWO", "b": "TWO ONE", "c": "ONE", "d": "TWO TWO ONE"}
    claimed = {"a": "ONE TWO", "b": "ONE TWO", "c": "ONE TWO TWO TWO", "d": "TWO TWO ONE"}
    aligner = Aligner({u: tok.encode(t) for u, t in claimed.items()},
                      HypothesisTimer(tok, FrameClock(1, 1, 0.04, 0.0)))
    hyps = {u: aligner.align(u, spoken(heard[u], tok)) for u in heard}
    assert hyps["a"].score == pytest.approx(0.0, abs=1e-6) and hyps["d"].score > -1e-6
    assert hyps["b"].score < -0.5                       # swapped words
    assert hyps["c"].score == -math.inf and "need" in aligner.reasons["c"]  # too long
    assert [w.word for w in hyps["a"].timed.words] == ["ONE", "TWO"]


@pytest.mark.parametrize("streaming", [False, True])
def test_hotwords_come_out_when_boosted(setup, tmp_path, streaming):
    exp, data = setup
    (tmp_path / "hot.txt").write_text("SIX 6.0\nTHREE FIVE\n")
    args = ["decode", "--exp-dir", str(exp), "--data-dir", str(data), "--method",
            "prefix_beam", "--beam", "4", "--token-topk", "64"] + (
                ["--streaming"] if streaming else [])
    assert main(args + ["--out", str(tmp_path / "plain")]) == 0
    assert main(args + ["--out", str(tmp_path / "hot"), "--hotwords",
                        str(tmp_path / "hot.txt")]) == 0
    plain = read_kv(tmp_path / "plain" / "hyp", allow_empty=True)
    hot = read_kv(tmp_path / "hot" / "hyp", allow_empty=True)
    assert not any("SIX" in h for h in plain.values())  # an untrained model never says it
    assert all("SIX" in h for h in hot.values()), hot


def test_hotword_files_are_checked(tmp_path):
    from asr.decode.hotwords import hotword_graph, read_hotwords
    from asr.errors import DataError

    (tmp_path / "h").write_text("TURN OFF 2\n\nLEARN\nGO -1\n")
    with pytest.raises(DataError, match=r"h:4: a hotword's weight must be a positive"):
        read_hotwords(tmp_path / "h")
    (tmp_path / "h").write_text("TURN OFF 2\n\nLEARN\n")
    assert read_hotwords(tmp_path / "h", 1.5) == [("TURN OFF", 2.0), ("LEARN", 1.5)]
    tok = CharTokenizer(TOKENS)
    (tmp_path / "h").write_text("ONE\nTWO?\n")
    with pytest.raises(DataError, match="hotword 'TWO\\?' has characters"):
        hotword_graph(tmp_path / "h", tok)
