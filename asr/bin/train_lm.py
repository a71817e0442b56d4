"""Train an n-gram LM (interpolated Witten-Bell, ARPA format) on a Kaldi text file.

Word level by default; ``--level char`` models the characters of the char tokenizer
(spaces as ``▁``) for token-level fusion.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text", type=Path, required=True, help="Kaldi text file (utt-id words...)")
    p.add_argument("--out", type=Path, required=True, help="ARPA file to write")
    p.add_argument("--order", type=int, default=3, help="n-gram order")
    p.add_argument("--level", choices=["word", "char"], default="word",
                   help="the LM's units")


def main(args: argparse.Namespace) -> int:
    import logging

    from asr.data.kaldi_dir import read_texts
    from asr.data.tokenizer import SPACE
    from asr.lm.arpa import write_arpa
    from asr.lm.ngram import train_witten_bell
    from asr.log_setup import setup_logging

    setup_logging()
    texts = read_texts(args.text)
    sents = [t.split() if args.level == "word" else list(SPACE.join(t.split())) for t in texts]
    model = train_witten_bell(sents, args.order)
    write_arpa(args.out, model)
    units = sum(len(s) + 1 for s in sents)
    ppl = 10 ** (-sum(model.sentence_logprob(s) for s in sents) / units)
    logging.info("wrote %s: %s; training-text perplexity %.2f", args.out,
                 ", ".join(f"{len(g)} {k + 1}-grams" for k, g in enumerate(model.ngrams)),
                 ppl)
    return 0
