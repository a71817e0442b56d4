"""CTC forced alignment: the path it finds is the best CTC path spelling the tokens (checked
against every path on small inputs), its spans follow the path, impossible inputs raise."""

import itertools
import math
import tracemalloc

import pytest
import torch

from asr.functional.ctc_align import AlignmentError, ctc_align, min_frames, spans_of_path


def collapse(path: tuple[int, ...], blank: int = 0) -> list[int]:
    out, prev = [], blank
    for p in path:
        if p != blank and p != prev:
            out.append(p)
        prev = p
    return out


def best_path_brute_force(lp: torch.Tensor, tokens: list[int]) -> tuple[float, tuple[int, ...]]:
    t, v = lp.shape
    best, arg = -math.inf, ()
    for path in itertools.product(range(v), repeat=t):
        if collapse(path) == tokens:
            score = float(sum(lp[i, p] for i, p in enumerate(path)))
            if score > best:
                best, arg = score, path
    return best, arg


@pytest.mark.parametrize("bounded", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_alignment_is_the_best_path_of_all(seed, bounded):
    g = torch.Generator().manual_seed(seed)
    t, v = 6, 4
    lp = torch.randn(t, v, generator=g).log_softmax(-1)
    tokens = [[1, 2], [2, 2], [1, 3, 1], [3]][seed % 4]
    spans, logp, labels = ctc_align(lp, tokens, max_trellis_bytes=0 if bounded else 10**9)
    best, path = best_path_brute_force(lp, tokens)
    assert logp == pytest.approx(best, abs=1e-5)
    path_logp = float(sum(lp[i, p] for i, p in enumerate(labels.tolist())))
    assert path_logp == pytest.approx(best, abs=1e-5)
    assert collapse(tuple(labels.tolist())) == tokens
    assert [s.token for s in spans] == tokens
    for s in spans:  # each span is a run of its token, the peak inside it
        assert all(labels[i] == s.token for i in range(s.start, s.end))
        assert s.start <= s.peak < s.end
        assert lp[s.peak, s.token] == lp[s.start:s.end, s.token].max()


@pytest.mark.parametrize("seed", range(40))
def test_checkpointed_viterbi_finds_torchaudios_path(seed):
    """Same labels and score as torchaudio's forced_align, on random sizes (blocks of
    1 frame to many), repeated tokens, and log-probs with ties (rounded to 0.5)."""
    g = torch.Generator().manual_seed(seed)
    v = int(torch.randint(2, 6, (1,), generator=g))
    t = int(torch.randint(1, 80, (1,), generator=g))
    tokens = torch.randint(1, v, (int(torch.randint(1, 30, (1,), generator=g)),),
                           generator=g).tolist()
    while tokens and min_frames(tokens) > t:
        tokens.pop()
    if not tokens:
        tokens = [1]
        t = max(t, 1)
    lp = (torch.randn(t, v, generator=g) * 3).log_softmax(-1)
    if seed % 4 == 3:
        lp = (lp * 2).round() / 2
    _, ref_logp, ref = ctc_align(lp, tokens)
    _, logp, labels = ctc_align(lp, tokens, max_trellis_bytes=0)
    assert torch.equal(labels, ref)
    assert logp == pytest.approx(ref_logp, abs=1e-3)


def test_checkpointed_viterbi_memory_grows_with_sqrt_frames():
    """An alignment whose torchaudio trellis would be 100 MB allocates a few MB."""
    g = torch.Generator().manual_seed(0)
    t, tokens = 40_000, torch.randint(1, 30, (1250,), generator=g).tolist()
    lp = torch.randn(t, 30, generator=g).log_softmax(-1)
    ctc_align(lp[:50], tokens[:5], max_trellis_bytes=0)  # compile first
    tracemalloc.start()
    _, logp, labels = ctc_align(lp, tokens, max_trellis_bytes=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    trellis = t * (2 * len(tokens) + 1)
    assert peak < trellis / 20, (peak, trellis)
    assert collapse(tuple(labels.tolist())) == tokens
    assert logp == pytest.approx(float(lp[torch.arange(t), labels].sum()), rel=1e-4)


def test_repeated_tokens_need_a_blank_between():
    assert min_frames([5, 5, 5]) == 5 and min_frames([1, 2, 3]) == 3 and min_frames([]) == 0
    lp = torch.zeros(4, 6).log_softmax(-1)
    with pytest.raises(AlignmentError, match="need 5 frames"):
        ctc_align(lp, [5, 5, 5])
    spans, _, labels = ctc_align(torch.zeros(5, 6).log_softmax(-1), [5, 5, 5])
    assert labels.tolist() == [5, 0, 5, 0, 5]
    assert [(s.start, s.end) for s in spans] == [(0, 1), (2, 3), (4, 5)]


def test_no_tokens_is_all_blank():
    lp = torch.randn(3, 4).log_softmax(-1)
    spans, logp, labels = ctc_align(lp, [])
    assert spans == [] and labels.tolist() == [0, 0, 0]
    assert logp == pytest.approx(float(lp[:, 0].sum()))


def test_spans_of_a_path_split_where_the_label_changes():
    labels = torch.tensor([0, 3, 3, 0, 3, 2, 2, 0])
    lp = torch.zeros(8, 4)
    lp[2, 3] = 1.0
    spans = spans_of_path(labels, lp)
    assert [(s.token, s.start, s.end, s.peak) for s in spans] == \
        [(3, 1, 3, 2), (3, 4, 5, 4), (2, 5, 7, 5)]
