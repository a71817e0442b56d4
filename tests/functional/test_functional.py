import itertools
import math
import random

import pytest
import torch

from asr.functional import (
    align,
    ctc_greedy_search,
    ctc_min_input_length,
)
from asr.nn.ctc_head import ctc_loss, min_input_lengths
from asr.scoring import score


def collapse(path):
    out, prev = [], 0
    for t in path:
        if t != 0 and t != prev:
            out.append(t)
        prev = t
    return tuple(out)


def test_ctc_loss_matches_path_enumeration_on_tiny_input():
    torch.manual_seed(0)
    lp = torch.randn(1, 3, 3).log_softmax(-1)
    target = (1, 2)
    prob = sum(math.exp(sum(lp[0, t, s].item() for t, s in enumerate(path)))
               for path in itertools.product(range(3), repeat=3) if collapse(path) == target)
    loss, zeroed = ctc_loss(lp, torch.tensor([3]), torch.tensor([target]), torch.tensor([2]))
    assert zeroed == 0
    assert loss.item() == pytest.approx(-math.log(prob), rel=1e-5)


def test_ctc_loss_zeroes_and_counts_infeasible():
    lp = torch.randn(2, 3, 4).log_softmax(-1)
    targets = torch.tensor([[1, 1, 2], [1, 2, 0]])  # first needs 4 frames (repeat), has 3
    loss, zeroed = ctc_loss(lp, torch.tensor([3, 3]), targets, torch.tensor([3, 2]))
    assert zeroed == 1 and math.isfinite(loss.item())
    assert min_input_lengths(targets, torch.tensor([3, 2])).tolist() == [4, 2]
    assert ctc_min_input_length([1, 1, 2]) == 4 and ctc_min_input_length([]) == 0


def test_greedy_merges_repeats_and_drops_blanks():
    path = torch.tensor([[1, 1, 0, 1, 2, 2, 0, 0, 3]])
    lp = torch.nn.functional.one_hot(path, 4).float().log()
    assert ctc_greedy_search(lp, torch.tensor([9])) == [[1, 1, 2, 3]]
    assert ctc_greedy_search(lp, torch.tensor([2])) == [[1]]
    assert ctc_greedy_search(lp, torch.tensor([0])) == [[]]


@pytest.mark.parametrize("seed", range(30))
def test_compiled_edit_distance_gives_the_same_alignment(seed, monkeypatch):
    """Long pairs go through the compiled kernel: same counts and pairs as the Python
    moves on random word sequences (small vocabularies make many ties), and the Python
    ones the same distance as a plain dynamic program."""
    from asr.functional import edit_distance

    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(rng.randint(1, 6))]
    ref = [rng.choice(vocab) for _ in range(rng.randint(0, 40))]
    hyp = [rng.choice(vocab) for _ in range(rng.randint(0, 40))]
    counts, pairs = align(ref, hyp)
    monkeypatch.setattr(edit_distance, "LONG_CELLS", -1)
    fast_counts, fast_pairs = align(ref, hyp)
    assert fast_pairs == pairs and fast_counts == counts
    d = [[i + j if i * j == 0 else 0 for j in range(len(hyp) + 1)] for i in range(len(ref) + 1)]
    for i in range(1, len(ref) + 1):
        for j in range(1, len(hyp) + 1):
            d[i][j] = min(d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]), d[i - 1][j] + 1,
                          d[i][j - 1] + 1)
    assert counts.errors == d[-1][-1]
    assert [r for r, _ in pairs if r != "***"] == ref and [h for _, h in pairs if h != "***"] == hyp


def test_an_hours_transcript_scores_in_seconds():
    rng = random.Random(0)
    ref = [rng.choice("ONE TWO THREE FOUR FIVE SIX".split()) for _ in range(6500)]
    hyp = [w if rng.random() > 0.1 else "NINE" for w in ref]
    counts, pairs = align(ref, hyp)
    assert counts.subs == sum(w == "NINE" for w in hyp) and len(pairs) == 6500


def test_edit_distance_and_kaldi_wer_line():
    counts, pairs = align("A B C D".split(), "A X C D E".split())
    assert (counts.subs, counts.dels, counts.ins) == (1, 0, 1)
    assert pairs == [("A", "A"), ("B", "X"), ("C", "C"), ("D", "D"), ("***", "E")]
    report = score({"u1": "A B C D", "u2": "E F"}, {"u1": "A X C D E"})
    assert report.summary() == "%WER 66.67 [ 4 / 6, 1 ins, 2 del, 1 sub ]"
    assert report.missing == ["u2"]
    assert score({"u": "AB C"}, {"u": "AC C"}, cer=True).summary().startswith("%CER 33.33 [ 1 / 3")
