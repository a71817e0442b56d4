"""Closed-vocabulary CTC decoding: exact scores, the prior, and the vocabulary file."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from asr.data.tokenizer import CharTokenizer
from asr.decode.vocabulary import read_vocabulary
from asr.errors import AsrError
from asr.functional.ctc_vocabulary import ctc_vocabulary_scores, ctc_vocabulary_search

VOCAB = [[2], [2, 3], [3, 3], [4, 2, 3], [2, 2, 2, 2, 2, 2, 2, 2]]


def log_probs(n: int = 4, t: int = 9, v: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lp = torch.randn(n, t, v, generator=g).log_softmax(-1)
    return lp, torch.tensor([9, 7, 4, 2][:n])


def test_scores_are_the_ctc_likelihood_of_each_pair():
    lp, lens = log_probs()
    scores = ctc_vocabulary_scores(lp, lens, VOCAB, chunk=2)  # chunks cover every entry
    assert scores.shape == (4, len(VOCAB))
    for i in range(4):
        for w, entry in enumerate(VOCAB):
            nll = F.ctc_loss(lp[i:i + 1, :lens[i]].transpose(0, 1), torch.tensor([entry]),
                             lens[i:i + 1], torch.tensor([len(entry)]), reduction="sum")
            assert scores[i, w].item() == pytest.approx(-nll.item(), abs=1e-5) or \
                (math.isinf(nll.item()) and scores[i, w].item() == -math.inf)
    # 8 repeated tokens need 15 frames: impossible in 9; [3, 3] needs 3, too many for 2
    assert torch.isinf(scores[:, 4]).all() and scores[3, 2].item() == -math.inf


def test_search_is_the_argmax_and_the_prior_moves_it():
    lp, lens = log_probs()
    scores = ctc_vocabulary_scores(lp, lens, VOCAB)
    best = ctc_vocabulary_search(lp, lens, VOCAB)
    assert best == [VOCAB[int(scores[i].argmax())] for i in range(4)]
    # a prior that makes one entry overwhelmingly likely wins wherever it is feasible
    prior = [math.log(1e-30)] * len(VOCAB)
    prior[1] = 0.0
    assert ctc_vocabulary_search(lp, lens, VOCAB, prior) == [[2, 3]] * 4
    # too short for every entry: no tokens
    assert ctc_vocabulary_search(lp[:1], torch.tensor([0]), VOCAB) == [[]]
    with pytest.raises(ValueError, match="prior log-probs"):
        ctc_vocabulary_search(lp, lens, VOCAB, [0.0])
    with pytest.raises(ValueError, match="no blank"):
        ctc_vocabulary_scores(lp, lens, [[0, 2]])


def test_vocabulary_file_gives_entries_and_their_frequencies(tmp_path):
    tok = CharTokenizer(["<blk>", "<unk>", "\u2581", "A", "B", "N", "O", "Y", "E", "S"])
    (tmp_path / "v.txt").write_text("YES\nNO\nYES\n\n  YES \n")
    entries, ids, prior = read_vocabulary(tmp_path / "v.txt", tok)
    assert entries == ["YES", "NO"] and ids == [tok.encode("YES"), tok.encode("NO")]
    assert prior == pytest.approx([math.log(3 / 4), math.log(1 / 4)])
    (tmp_path / "bad.txt").write_text("YES\nMAYBE\n")
    with pytest.raises(AsrError, match="'MAYBE' .* cannot be spelled"):
        read_vocabulary(tmp_path / "bad.txt", tok)
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(AsrError, match="empty"):
        read_vocabulary(tmp_path / "empty.txt", tok)
    with pytest.raises(AsrError, match="cannot read"):
        read_vocabulary(tmp_path / "missing.txt", tok)


def test_decode_with_a_vocabulary_gives_only_its_entries(tmp_path, capsys):
    from asr.cli import main
    from asr.testing.fixtures import make_data_dir, make_exp_dir

    text = make_data_dir(tmp_path / "d", num_utts=6, max_digits=1)
    exp = make_exp_dir(tmp_path / "exp")
    (tmp_path / "vocab.txt").write_text("\n".join(text.values()) + "\n")
    out = tmp_path / "dec"
    assert main(["decode", "--exp-dir", str(exp), "--data-dir", str(tmp_path / "d"),
                 "--out", str(out), "--method", "vocabulary",
                 "--vocabulary", str(tmp_path / "vocab.txt"), "--vocabulary-prior"]) == 0
    hyps = dict(line.split(" ", 1) for line in (out / "hyp").read_text().splitlines())
    assert hyps.keys() == text.keys() and set(hyps.values()) <= set(text.values())
    capsys.readouterr()
    assert main(["decode", "--exp-dir", str(exp), "--data-dir", str(tmp_path / "d"),
                 "--out", str(out), "--method", "vocabulary"]) == 2
    assert "--method vocabulary and --vocabulary FILE go together" in capsys.readouterr().err
