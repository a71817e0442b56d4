"""Build a lang dir (tokens.txt, and sp.model for bpe/unigram) from training transcripts."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text", type=Path, required=True, help="Kaldi text file of the train set")
    p.add_argument("--out", type=Path, required=True, help="lang dir to write")
    p.add_argument("--token-type", choices=["char", "bpe", "unigram"], default="char",
                   help="characters, or sentencepiece subwords (--vocab-size)")
    p.add_argument("--vocab-size", type=int, default=0, help="for bpe and unigram")


def main(args: argparse.Namespace) -> int:
    import logging

    from asr.data.kaldi_dir import read_texts
    from asr.data.tokenizer import load_tokenizer, train_tokenizer
    from asr.log_setup import setup_logging

    setup_logging()
    texts = read_texts(args.text)
    train_tokenizer(texts, args.out, args.token_type, args.vocab_size)
    logging.info("%s: %d tokens (%s)", args.out, load_tokenizer(args.out).vocab_size,
                 args.token_type)
    return 0
