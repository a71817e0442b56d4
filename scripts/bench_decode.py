#!/usr/bin/env python3
"""Time CTC decoders on the same random log-probs, one thread, in one run.

Rows: our prefix beam search called per utterance and on the whole batch, the same
with shallow fusion of a word 3-gram LM (random words; the last token is the word
boundary), our greedy search, pyctcdecode (no LM) and flashlight-text's lexicon-free
decoder (C++, ZeroLM, log-add merging). Prints ms per utterance and each row's ratio
to flashlight-text (< 1 means faster). The references come from the `bench` extra:
``pip install -e ".[bench]"``.

    python scripts/bench_decode.py [--utts 20] [--frames 500] [--vocab 500] [--beam 10]
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from collections.abc import Callable

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # before numba is imported

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from benchlib import Row, print_table  # noqa: E402

from asr.data.tokenizer import BLANK, SPACE, UNK  # noqa: E402
from asr.functional import ctc_greedy_search, ctc_prefix_beam_search  # noqa: E402
from asr.functional.fusion_table import FusionTables  # noqa: E402
from asr.lm.fusion import build_fusion  # noqa: E402
from asr.lm.ngram import train_witten_bell  # noqa: E402


def random_log_probs(n: int, t: int, v: int, scale: float, seed: int) -> torch.Tensor:
    """(N, T, V) log-softmax of Gaussian logits; ``scale`` sets how peaky frames are."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, t, v, generator=g) * scale).log_softmax(-1)


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Fastest of ``repeats`` runs in seconds (others share these CPUs)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def mean_neg_log_prob(lp: torch.Tensor, hyps: list[list[int]]) -> float:
    """Mean -log P(hyp | x) under CTC: which decoder found the more probable sequences."""
    targets = torch.tensor([c for h in hyps for c in h], dtype=torch.long)
    lens = torch.full((lp.shape[0],), lp.shape[1])
    return F.ctc_loss(lp.transpose(0, 1), targets, lens, torch.tensor([len(h) for h in hyps]),
                      reduction="sum").item() / lp.shape[0]  # (T, N, V)


def random_word_lm(tokens: list[str], seed: int) -> FusionTables:
    """A word 3-gram LM over random 2-4 letter words of ``tokens``: the fusion's cost."""
    rng = np.random.default_rng(seed)
    letters = tokens[2:32]
    vocab = ["".join(rng.choice(letters, rng.integers(2, 5))) for _ in range(1000)]
    sents = [list(rng.choice(vocab, rng.integers(3, 10))) for _ in range(5000)]
    return build_fusion(train_witten_bell(sents, 3), tokens, weight=0.5, bonus=1.0,
                        word_start=SPACE, unk=UNK)


def flashlight_decoder(v: int, beam: int, beam_tokens: int):
    from flashlight.lib.text.decoder import (
        CriterionType,
        LexiconFreeDecoder,
        LexiconFreeDecoderOptions,
        ZeroLM,
    )

    opts = LexiconFreeDecoderOptions(
        beam_size=beam, beam_size_token=beam_tokens, beam_threshold=50.0,  # torchaudio's
        lm_weight=0.0, sil_score=0.0, log_add=True, criterion_type=CriterionType.CTC)
    return LexiconFreeDecoder(opts, ZeroLM(), v - 1, 0, [])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--utts", type=int, default=20)
    p.add_argument("--frames", type=int, default=500)
    p.add_argument("--vocab", type=int, default=500)
    p.add_argument("--beam", type=int, default=10)
    p.add_argument("--tokens-per-frame", type=int, default=10)
    p.add_argument("--scale", type=float, default=3.0, help="logit std: higher = peakier")
    p.add_argument("--repeats", type=int, default=3)
    return p


def run(args: argparse.Namespace) -> tuple[list[str], list[Row]]:
    torch.set_num_threads(1)
    n, t, v, beam, k = args.utts, args.frames, args.vocab, args.beam, args.tokens_per_frame
    lp = random_log_probs(n, t, v, args.scale, seed=0)
    lens = torch.full((n,), t)
    lp_np = np.ascontiguousarray(lp.numpy())

    ctc_prefix_beam_search(lp[:1], lens[:1], beam, token_topk=k)  # compile (or load cache)
    fl = flashlight_decoder(v, beam, k)

    def flashlight() -> list[list[int]]:
        out = []
        for b in range(n):
            path = fl.decode(lp_np[b].ctypes.data, t, v)[0].tokens[1:-1]  # sil at both ends
            out.append([int(c) for c, _ in itertools.groupby(path) if c != 0])
        return out

    from pyctcdecode import build_ctcdecoder

    labels = [""] + [chr(0x4E00 + i) for i in range(v - 1)]  # blank + distinct one-char labels
    pyctc = build_ctcdecoder(labels)
    tokens = [BLANK, UNK, *labels[2:-1], SPACE]  # the last token is the word boundary
    lm = random_word_lm(tokens, seed=0)
    ctc_prefix_beam_search(lp[:1], lens[:1], beam, token_topk=k, lm=lm)

    rows = [
        ("asr prefix beam, per utterance",
         lambda: [ctc_prefix_beam_search(lp[b:b + 1], lens[b:b + 1], beam, token_topk=k)
                  for b in range(n)]),
        ("asr prefix beam, batched", lambda: ctc_prefix_beam_search(lp, lens, beam,
                                                                    token_topk=k)),
        ("asr prefix beam + word 3-gram LM",
         lambda: ctc_prefix_beam_search(lp, lens, beam, token_topk=k, lm=lm)),
        ("asr greedy, batched", lambda: ctc_greedy_search(lp, lens)),
        ("pyctcdecode (no LM)", lambda: [pyctc.decode(lp_np[b], beam_width=beam)
                                         for b in range(n)]),
        ("flashlight-text lexicon-free", flashlight),
    ]
    ms = {name: 1000 * best_of(fn, args.repeats) / n for name, fn in rows}
    ref = ms["flashlight-text lexicon-free"]
    ours, theirs = ctc_prefix_beam_search(lp, lens, beam, token_topk=k), flashlight()
    same = sum(a == b for a, b in zip(ours, theirs, strict=True))
    notes = [f"{n} utterances, T={t}, V={v}, beam {beam}, {k} tokens per frame, logit std "
             f"{args.scale}, 1 thread, best of {args.repeats}; times in ms per utterance",
             f"same best hypothesis as flashlight-text: {same} of {n}; mean -log P(hyp | x): "
             f"asr {mean_neg_log_prob(lp, ours):.3f}, flashlight-text "
             f"{mean_neg_log_prob(lp, theirs):.3f} (lower is better)"]
    return notes, [Row(name, f"{ms[name]:.2f} ms", f"{ref:.2f} ms (flashlight-text)",
                       f"{ms[name] / ref:.2f}") for name, _ in rows[:-1]]


def main() -> None:
    print_table(*run(parser().parse_args()))


if __name__ == "__main__":
    main()
