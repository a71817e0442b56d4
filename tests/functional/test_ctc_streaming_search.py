"""Resumable CTC searches: chunk by chunk, the final result is the offline search's on the
same log-probs (with and without an LM); partial hypotheses are prefixes of the stream."""

import pytest
import torch

from asr.data.tokenizer import SPACE, UNK
from asr.functional import ctc_greedy_search, ctc_prefix_beam_search_nbest
from asr.functional.ctc_streaming_search import StreamingGreedySearch, StreamingPrefixBeamSearch
from asr.lm.fusion import build_fusion
from asr.lm.ngram import train_witten_bell

TOKENS = ["<blk>", "<unk>", "A", "B", "\u2581"]  # a char lang dir: blank, unk, A, B, space
MARKS = {"word_start": SPACE, "unk": UNK}


def log_probs(t, seed, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(t, len(TOKENS), generator=g) * scale).log_softmax(-1)


def chunks(t, seed):
    """Random chunk boundaries over t frames, chunks of 0 to 9 frames."""
    g = torch.Generator().manual_seed(seed + 100)
    start = 0
    while start < t:
        size = int(torch.randint(0, 10, (), generator=g))
        yield start, min(t, start + size)
        start += size


@pytest.mark.parametrize("seed", range(5))
def test_greedy_across_chunks_equals_offline_greedy(seed):
    lp = log_probs(60, seed, scale=1.0)
    search = StreamingGreedySearch()
    for a, b in chunks(60, seed):
        partial = search.accept(lp[a:b])
        assert partial == ctc_greedy_search(lp[None, :b], torch.tensor([b]))[0]
    assert search.finalize() == ctc_greedy_search(lp[None], torch.tensor([60]))[0]
    assert search.finalize() == []  # reset for the next utterance


def lm_tables(level):
    sents = [["AB", "BA"], ["AB"], ["BA", "AB", "AB"]] if level == "word" else \
        [list("AB\u2581BA"), list("AB")]
    return build_fusion(train_witten_bell(sents, order=2), TOKENS, weight=0.8, bonus=0.3,
                        level=level, **MARKS)


@pytest.mark.parametrize("level", [None, "word", "token"])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("beam", [1, 4, 16])
def test_prefix_beam_across_chunks_equals_offline(level, seed, beam):
    t = 80
    lp = log_probs(t, seed)
    lm = lm_tables(level) if level else None
    want = ctc_prefix_beam_search_nbest(lp[None], torch.tensor([t]), beam_size=beam, nbest=3,
                                        lm=lm)[0]
    search = StreamingPrefixBeamSearch(beam_size=beam, lm=lm)
    for a, b in chunks(t, seed):
        partial = search.accept(lp[a:b])
        assert all(0 <= c < len(TOKENS) for c in partial)
    got = search.finalize_nbest(3)
    if lm is None:  # without an LM the end of search ranks as the last frame did
        assert partial == got[0][0]
    assert [h for h, _ in got] == [h for h, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-9)
    # and it is ready for the next utterance: the same again
    for a, b in chunks(t, seed + 1):
        search.accept(lp[a:b])
    assert search.finalize_nbest(3) == got


def test_partial_hypothesis_is_the_beam_top_and_trie_grows_past_its_first_size():
    lp = log_probs(700, 3)  # 700 frames x beam 4 > the 1024 nodes allocated at first
    search = StreamingPrefixBeamSearch(beam_size=4, token_threshold=-5.0)
    for a in range(0, 700, 7):
        search.accept(lp[a:a + 7])
    final = search.finalize()
    want = ctc_prefix_beam_search_nbest(lp[None], torch.tensor([700]), beam_size=4,
                                        token_threshold=-5.0)[0][0][0]
    assert final == want and len(final) > 0


def test_empty_stream_and_bad_input():
    search = StreamingPrefixBeamSearch(beam_size=3)
    assert search.accept(torch.zeros(0, 5)) == []
    assert search.finalize() == ctc_prefix_beam_search_nbest(
        torch.zeros(1, 0, 5), torch.tensor([0]))[0][0][0]
    with pytest.raises(ValueError, match=r"\(T, V\)"):
        search.accept(torch.zeros(1, 3, 5))
    with pytest.raises(ValueError, match="LM fusion tables cover 5 tokens"):
        StreamingPrefixBeamSearch(lm=lm_tables("word")).accept(torch.zeros(2, 7))
