"""An n-gram LM and a token list as flat arrays for the compiled beam search (shallow fusion).

The LM half (the n-gram trie and the word table, :mod:`asr.lm.ngram_tables`) depends only
on the ARPA file, so it can be compiled once and memory-mapped (:mod:`asr.lm.compiled_lm`);
the token half is built here per decode from the tokenizer's tokens (it is small).

Word-level fusion scores a word when the next word starts (a ``▁`` token, or a
sentencepiece piece starting with ``▁``) and at the utterance end. The pending word is
kept as a 64-bit rolling hash of its characters, so any tokenization of a word finds
the same LM entry. Token-level fusion scores every token as it is appended.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from asr.errors import AsrError
from asr.functional.fusion_table import (
    LM_TOKEN,
    LM_WORD,
    FusionTables,
    NgramTables,
    TokenTables,
    char_hash,
)
from asr.lm.arpa import ArpaModel
from asr.lm.arpa_arrays import arrays_from_model
from asr.lm.ngram_tables import build_ngram_tables

UNK_CHAR = "\U0010ffff"  # the <unk> token's "character": no LM word contains it


def _token_tables(tokens: list[str], ngram: NgramTables, level: str, word_start: str,
                  unk: str) -> TokenTables:
    """Per token of ``tokens``: how it extends the pending word, or (token level) its LM id."""
    v = len(tokens)
    starts_word = np.zeros(v, np.bool_)
    mul = np.ones(v, np.uint64)
    add = np.zeros(v, np.uint64)
    nchars = np.zeros(v, np.int32)
    tok_word = np.full(v, -1, np.int32)
    if level == "token":
        tok_word[1:] = ngram.word_ids(tokens[1:])  # token 0 is the blank
        return TokenTables(starts_word, mul, add, nchars, tok_word)
    for i, tok in enumerate(tokens):
        if i == 0:  # blank
            continue
        text = UNK_CHAR if tok == unk else tok
        starts_word[i] = text.startswith(word_start)
        text = text.lstrip(word_start)
        m, h = char_hash(text)
        mul[i], add[i], nchars[i] = np.uint64(m), np.uint64(h), len(text)
    return TokenTables(starts_word, mul, add, nchars, tok_word)


def fusion_tables(ngram: NgramTables, tokens: list[str], weight: float = 0.5,
                  bonus: float = 0.0, level: Literal["word", "token"] = "word", *,
                  word_start: str, unk: str) -> FusionTables:
    """Shallow fusion of the LM ``ngram`` (over words, or over the token strings of
    ``tokens``) with weight ``weight`` on its natural-log probabilities and ``bonus``
    added per scored word. ``word_start`` is the tokenizer's word-boundary mark (a token
    starting with it begins a word) and ``unk`` its unknown token, which matches no LM
    word. The arrays of ``ngram`` are used as they are (memory-mapped ones stay so)."""
    if level not in ("word", "token"):
        raise AsrError(f"LM level must be 'word' or 'token', got '{level}'")
    unk_word = int(ngram.word_ids([unk])[0])
    lm = ngram._replace(unk_word=unk_word)
    return FusionTables(LM_WORD if level == "word" else LM_TOKEN, lm,
                        _token_tables(tokens, ngram, level, word_start, unk), float(weight),
                        float(bonus))


def build_fusion(model: ArpaModel, tokens: list[str], weight: float = 0.5, bonus: float = 0.0,
                 level: Literal["word", "token"] = "word", *, word_start: str,
                 unk: str) -> FusionTables:
    """:func:`fusion_tables` of an in-memory ARPA model (see :func:`fusion_tables`)."""
    return fusion_tables(build_ngram_tables(arrays_from_model(model)), tokens, weight, bonus,
                         level, word_start=word_start, unk=unk)
