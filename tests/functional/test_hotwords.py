"""Hotword boosting in the compiled prefix beam search: the graph rewards exactly the
hotwords a text holds (against a plain left-to-right matcher), and the search with a beam
that holds every prefix ranks label sequences as a brute-force scoring of every sequence
does, offline and streaming, with and without an LM."""

import itertools
import math

import numpy as np
import pytest
import torch

from asr.functional import ctc_prefix_beam_search_nbest
from asr.functional.context_graph import build_context_graph, context_final, context_step
from asr.functional.ctc_streaming_search import StreamingPrefixBeamSearch

V = 4  # blank + 3 tokens


def reference_reward(tokens: list[int], hotwords: list[list[int]], weight: float) -> float:
    """Left to right: at the first position where hotwords starting after the last match
    end, the longest of them counts (weight per token) and matching restarts after it."""
    reward, start = 0.0, 0
    for i in range(len(tokens)):
        ending = [h for h in hotwords if i + 1 - len(h) >= start and
                  tokens[i + 1 - len(h):i + 1] == h]
        if ending:
            reward += weight * max(len(h) for h in ending)
            start = i + 1
    return reward


def graph_reward(graph, tokens: list[int]) -> float:
    total, state = 0.0, 0
    for t in tokens:
        s, state = context_step(graph, state, t)
        total += s
    return total + context_final(graph, state)


HOTWORDS = [[[1, 2]], [[1, 2, 3], [2]], [[3, 3], [1]], [[2, 1, 2], [1, 3]], [[1, 1, 2]]]


@pytest.mark.parametrize("hotwords", HOTWORDS)
def test_graph_rewards_the_hotwords_a_text_holds(hotwords):
    graph = build_context_graph([(h, 1.5) for h in hotwords], V)
    for n in range(7):
        for tokens in itertools.product(range(1, V), repeat=n):
            assert graph_reward(graph, list(tokens)) == pytest.approx(
                reference_reward(list(tokens), hotwords, 1.5)), tokens


def ctc_log_prob(lp: np.ndarray, labels: list[int]) -> float:
    """log P(labels | lp) summed over every CTC path (brute force)."""
    total = -math.inf
    for path in itertools.product(range(V), repeat=lp.shape[0]):
        out, prev = [], 0
        for p in path:
            if p != 0 and p != prev:
                out.append(p)
            prev = p
        if out == labels:
            total = np.logaddexp(total, sum(lp[i, p] for i, p in enumerate(path)))
    return total


@pytest.mark.parametrize("seed", range(4))
def test_search_with_hotwords_ranks_as_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    t = 5
    lp = torch.randn(t, V, generator=g).mul(2).log_softmax(-1)
    hotwords = HOTWORDS[seed]
    weight = 1.0
    graph = build_context_graph([(h, weight) for h in hotwords], V)
    scores = {}
    for n in range(t + 1):
        for labels in itertools.product(range(1, V), repeat=n):
            base = ctc_log_prob(lp.numpy(), list(labels))
            if base > -math.inf:
                scores[labels] = base + reference_reward(list(labels), hotwords, weight)
    best = sorted(scores.items(), key=lambda kv: -kv[1])[:5]
    found = ctc_prefix_beam_search_nbest(lp[None], torch.tensor([t]), beam_size=400, nbest=5,
                                         hotwords=graph)[0]
    assert [tuple(ids) for ids, _ in found] == [labels for labels, _ in best]
    assert [s for _, s in found] == pytest.approx([s for _, s in best], abs=1e-6)
    streaming = StreamingPrefixBeamSearch(beam_size=400, hotwords=graph)
    streaming.accept(lp[:2])
    streaming.accept(lp[2:])
    assert streaming.finalize_nbest(5) == found


def test_hotwords_change_the_best_hypothesis_and_nothing_without_them():
    # frames unsure between token 1 and 2: the hotword [2, 2] tips it
    lp = torch.tensor([[0.1, 0.5, 0.4, 0.0], [0.6, 0.0, 0.0, 0.4],
                       [0.1, 0.5, 0.4, 0.0]]).clamp_min(1e-4).log()
    plain = ctc_prefix_beam_search_nbest(lp[None], torch.tensor([3]), beam_size=8)[0]
    assert plain[0][0] == [1, 1]
    graph = build_context_graph([([2, 2], 1.0)], V)
    boosted = ctc_prefix_beam_search_nbest(lp[None], torch.tensor([3]), beam_size=8,
                                           hotwords=graph)[0]
    assert boosted[0][0] == [2, 2]
    empty = build_context_graph([], V)
    assert ctc_prefix_beam_search_nbest(lp[None], torch.tensor([3]), beam_size=8,
                                        hotwords=empty)[0] == plain


def test_bad_hotword_tokens_are_errors():
    with pytest.raises(ValueError, match="outside the vocabulary"):
        build_context_graph([([5], 1.0)], V)


@pytest.mark.parametrize("level", ["word", "token"])
def test_hotwords_add_to_lm_fusion(level):
    from test_ctc_search import MARKS, TOKENS, random_log_probs, small_lm

    from asr.lm.fusion import build_fusion

    t = 3  # every prefix fits the beam: the n-best lists hold every label sequence
    lp = random_log_probs(1, t, len(TOKENS), 3, scale=1.5)
    fusion = build_fusion(small_lm(level), TOKENS, weight=0.8, bonus=0.3, level=level, **MARKS)
    hotwords = [[TOKENS.index("A"), TOKENS.index("B")]]
    graph = build_context_graph([(h, 1.2) for h in hotwords], len(TOKENS))
    kw = dict(beam_size=400, nbest=400, token_topk=len(TOKENS))
    with_lm = {tuple(ids): s for ids, s in
               ctc_prefix_beam_search_nbest(lp, torch.tensor([t]), lm=fusion, **kw)[0]}
    both = ctc_prefix_beam_search_nbest(lp, torch.tensor([t]), lm=fusion, hotwords=graph,
                                        **kw)[0]
    assert len(both) == len(with_lm) > 30
    for ids, score in both:
        want = with_lm[tuple(ids)] + reference_reward(ids, hotwords, 1.2)
        assert score == pytest.approx(want, abs=1e-9), ids
