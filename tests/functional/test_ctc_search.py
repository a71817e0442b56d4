"""CTC prefix beam search by property: agreement with brute force over every path on tiny
inputs (with and without an LM), beam 1 against greedy, batched against per utterance."""

import itertools
import math

import pytest
import torch

from asr.data.tokenizer import SPACE, UNK
from asr.functional import (
    ctc_greedy_search,
    ctc_prefix_beam_search,
    ctc_prefix_beam_search_nbest,
)
from asr.lm.arpa import ArpaModel
from asr.lm.fusion import build_fusion
from asr.lm.ngram import train_witten_bell


def collapse(path, blank=0):
    out, prev = [], blank
    for t in path:
        if t != blank and t != prev:
            out.append(t)
        prev = t
    return tuple(out)


def brute_force(lp, blank=0):
    """log P(labels) of every label sequence, summing over all T^V paths of lp (T, V)."""
    t, v = lp.shape
    totals: dict = {}
    for path in itertools.product(range(v), repeat=t):
        s = sum(lp[i, c].item() for i, c in enumerate(path))
        y = collapse(path, blank)
        totals[y] = torch.logaddexp(torch.tensor(totals[y]), torch.tensor(s)).item() \
            if y in totals else s
    return totals


def random_log_probs(n, t, v, seed, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, t, v, generator=g, dtype=torch.float64) * scale).log_softmax(-1)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("blank", [0, 2])
def test_full_beam_nbest_equals_brute_force(seed, blank):
    t, v = 5, 3
    lp = random_log_probs(1, t, v, seed)
    exact = brute_force(lp[0], blank)
    want = sorted(exact.items(), key=lambda kv: -kv[1])[:5]
    got = ctc_prefix_beam_search_nbest(lp, torch.tensor([t]), beam_size=64, nbest=5,
                                       blank=blank, token_topk=v)[0]
    assert [tuple(y) for y, _ in got] == [y for y, _ in want]
    # the search reads float32 log-probs
    assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-5)
    assert ctc_prefix_beam_search(lp, torch.tensor([t]), beam_size=64, blank=blank,
                                  token_topk=v) == [list(want[0][0])]


def peaky_log_probs(n, t, v, seed, top=0.95):
    """CTC-like posteriors: one token per frame holds ``top`` of the mass."""
    g = torch.Generator().manual_seed(seed)
    winners = torch.randint(0, v, (n, t), generator=g)
    winners[torch.rand(n, t, generator=g) < 0.4] = 0  # many blanks, as trained models give
    rest = torch.rand(n, t, v, generator=g, dtype=torch.float64)
    rest = rest.scatter(-1, winners[..., None], 0.0)
    probs = (1 - top) * rest / rest.sum(-1, keepdim=True)
    probs = probs.scatter(-1, winners[..., None], top)
    return probs.log()


@pytest.mark.parametrize("seed", range(20))
def test_beam_one_equals_greedy_on_peaky_posteriors(seed):
    lp = peaky_log_probs(3, 40, 6, seed)
    lens = torch.tensor([40, 23, 1])
    assert ctc_prefix_beam_search(lp, lens, beam_size=1) == ctc_greedy_search(lp, lens)


def test_batched_equals_per_utterance_and_padding_is_ignored():
    lp = random_log_probs(5, 60, 30, 1, scale=4.0)
    lens = torch.tensor([60, 17, 0, 42, 1])
    batched = ctc_prefix_beam_search_nbest(lp, lens, beam_size=8, nbest=3)
    for b in range(5):
        noisy = lp[b:b + 1].clone()
        noisy[:, lens[b]:] = random_log_probs(1, 60, 30, 99)[:, lens[b]:]
        alone = ctc_prefix_beam_search_nbest(noisy, lens[b:b + 1], beam_size=8, nbest=3)
        assert alone == [batched[b]]


def test_zero_length_all_blank_and_threshold_pruning_give_empty():
    blank_heavy = torch.full((2, 7, 4), -20.0)
    blank_heavy[..., 0] = 0.0
    assert ctc_prefix_beam_search(blank_heavy, torch.tensor([7, 0])) == [[], []]
    lp = random_log_probs(1, 7, 4, 3)
    assert ctc_prefix_beam_search(lp, torch.tensor([0])) == [[]]
    assert ctc_prefix_beam_search(lp, torch.tensor([7]), token_threshold=0.5) == [[]]
    assert ctc_prefix_beam_search_nbest(lp, torch.tensor([0]), nbest=3) == [[([], 0.0)]]


def test_nbest_scores_are_sorted_and_distinct():
    lp = random_log_probs(2, 50, 12, 5, scale=3.0)
    for hyps in ctc_prefix_beam_search_nbest(lp, torch.tensor([50, 31]), beam_size=10, nbest=10):
        scores = [s for _, s in hyps]
        assert len(hyps) == 10 and scores == sorted(scores, reverse=True)
        assert len({tuple(y) for y, _ in hyps}) == 10


def test_topk_pruning_keeps_the_result_on_peaky_input_and_bad_args_raise():
    lp = peaky_log_probs(2, 80, 50, 7)
    lens = torch.tensor([80, 64])
    full = ctc_prefix_beam_search(lp, lens, beam_size=10, token_topk=50)
    assert ctc_prefix_beam_search(lp, lens, beam_size=10, token_topk=3) == full
    assert ctc_prefix_beam_search(lp, lens, beam_size=10, token_threshold=math.log(1e-3)) == full
    with pytest.raises(ValueError, match="beam_size"):
        ctc_prefix_beam_search(lp, lens, beam_size=0)
    with pytest.raises(ValueError, match="lengths"):
        ctc_prefix_beam_search(lp, torch.tensor([81, 2]))


# --- shallow fusion ---------------------------------------------------------------------

TOKENS = ["<blk>", "<unk>", "A", "B", "\u2581"]  # a char lang dir: blank, unk, A, B, space
MARKS = {"word_start": SPACE, "unk": UNK}


def words_of(labels):
    """Words as the LM sees them: an <unk> token makes its word out-of-vocabulary."""
    text = "".join(TOKENS[c] if c > 1 else "\U0010ffff" for c in labels)
    return text.replace("\u2581", " ").split()


def fused_brute_force(lp, model, weight, bonus, level):
    """argmax over label sequences of log P_ctc + weight * ln P_lm + bonus per LM word."""
    best, best_score = None, -math.inf
    for y, ac in brute_force(lp).items():
        units = words_of(y) if level == "word" else [TOKENS[c] for c in y]
        lm = model.sentence_logprob(units) * math.log(10)
        score = ac + weight * lm + bonus * len(units)
        if score > best_score:
            best, best_score = list(y), score
    return best, best_score


def small_lm(level: str) -> ArpaModel:
    sents = [["AB", "BA"], ["AB"], ["BA", "AB", "AB"]] if level == "word" else \
        [list("AB\u2581BA"), list("AB")]
    return train_witten_bell(sents, order=2)


@pytest.mark.parametrize("level", ["word", "token"])
@pytest.mark.parametrize("seed", range(4))
def test_fusion_with_full_beam_equals_brute_force(level, seed):
    t = 5
    lp = random_log_probs(1, t, len(TOKENS), 10 + seed, scale=1.5)
    model = small_lm(level)
    fusion = build_fusion(model, TOKENS, weight=0.8, bonus=0.3, level=level, **MARKS)
    want, score = fused_brute_force(lp[0], model, 0.8, 0.3, level)
    got = ctc_prefix_beam_search_nbest(lp, torch.tensor([t]), beam_size=400, token_topk=5,
                                       lm=fusion)[0][0]
    assert got[0] == want
    assert got[1] == pytest.approx(score, abs=1e-6)


def test_fusion_weight_zero_is_the_plain_search_and_lm_fixes_a_misspelling():
    lp = random_log_probs(3, 30, len(TOKENS), 4, scale=2.0)
    lens = torch.tensor([30, 20, 9])
    model = small_lm("word")
    zero = build_fusion(model, TOKENS, weight=0.0, bonus=0.0, **MARKS)
    assert ctc_prefix_beam_search(lp, lens, lm=zero) == ctc_prefix_beam_search(lp, lens)
    # acoustics slightly prefer "AA" (not a word); the LM knows only AB and BA
    probs = torch.tensor([[0.05, 0.0, 0.9, 0.05, 0.0], [0.6, 0.0, 0.0, 0.0, 0.4],
                          [0.05, 0.0, 0.5, 0.45, 0.0]]).clamp_min(1e-6)
    lp = probs.log()[None]
    assert words_of(ctc_prefix_beam_search(lp, torch.tensor([3]))[0]) == ["AA"]
    fused = build_fusion(model, TOKENS, weight=1.0, **MARKS)
    assert words_of(ctc_prefix_beam_search(lp, torch.tensor([3]), lm=fused)[0]) == ["AB"]
