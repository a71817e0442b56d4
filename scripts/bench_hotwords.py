#!/usr/bin/env python3
"""Time the prefix beam search with and without hotwords on the same random log-probs, one
thread, in one run: ms per utterance and each row's ratio to the search without hotwords.

    python scripts/bench_hotwords.py [--utts 20] [--frames 500] [--vocab 500] [--beam 10] \
        [--repeats 3]
    python scripts/bench_hotwords.py --plain-only   # the reference row alone: run it in a
                                                    # checkout from before hotwords to compare

Hotword lists are random 2-6 token phrases (25 and 1000 of them), with and without a word
3-gram LM (the one of scripts/bench_decode.py).
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # before numba is imported

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_decode import best_of, parser, random_log_probs, random_word_lm  # noqa: E402
from benchlib import Row, print_table  # noqa: E402

from asr.data.tokenizer import BLANK, SPACE, UNK  # noqa: E402
from asr.functional import ctc_prefix_beam_search  # noqa: E402


def random_phrases(count: int, vocab: int, seed: int) -> list[tuple[list[int], float]]:
    rng = np.random.default_rng(seed)
    return [(rng.integers(2, vocab, rng.integers(2, 7)).tolist(), 1.5) for _ in range(count)]


def main() -> None:
    p = parser()  # scripts/bench_decode.py's sizes and repeats
    p.add_argument("--plain-only", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    n, t, v, beam = args.utts, args.frames, args.vocab, args.beam
    lp = random_log_probs(n, t, v, args.scale, seed=0)
    lens = torch.full((n,), t)

    def timed(**kw) -> tuple[float, list[list[int]]]:
        out = ctc_prefix_beam_search(lp, lens, beam, **kw)  # compile (or load the cache)
        return best_of(lambda: ctc_prefix_beam_search(lp, lens, beam, **kw),
                       args.repeats) * 1000 / n, out

    plain, plain_hyps = timed()
    notes = [f"{n} utterances, T={t}, V={v}, beam {beam}, 1 thread, best of {args.repeats}; "
             "reference: the search without hotwords"]
    rows = [Row("prefix beam, no hotwords", f"{plain:.2f} ms/utt")]
    if not args.plain_only:
        from asr.functional.context_graph import build_context_graph

        tokens = [BLANK, UNK, *[chr(0x4E00 + i) for i in range(v - 3)], SPACE]
        lm = random_word_lm(tokens, seed=0)
        lm_plain, _ = timed(lm=lm)
        empty, empty_hyps = timed(hotwords=build_context_graph([], v))
        notes.append("an empty hotword list gives the same hypotheses as none: "
                     f"{empty_hyps == plain_hyps}")
        rows.append(Row("prefix beam, empty hotword list", f"{empty:.2f} ms/utt",
                        f"{plain:.2f}", f"{empty / plain:.2f}"))
        for count in (25, 1000):
            graph = build_context_graph(random_phrases(count, v, seed=count), v)
            ms, _ = timed(hotwords=graph)
            rows.append(Row(f"prefix beam, {count} hotwords", f"{ms:.2f} ms/utt",
                            f"{plain:.2f}", f"{ms / plain:.2f}"))
            ms, _ = timed(hotwords=graph, lm=lm)
            rows.append(Row(f"+ word 3-gram LM, {count} hotwords (ref: LM alone)",
                            f"{ms:.2f} ms/utt", f"{lm_plain:.2f}", f"{ms / lm_plain:.2f}"))
    print_table(notes, rows)


if __name__ == "__main__":
    main()
