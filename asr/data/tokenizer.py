"""Tokenizers with one interface: characters or sentencepiece (bpe, unigram).

Id 0 is the CTC blank and id 1 is ``<unk>`` in both, so targets always lie in [1, V).
A lang dir holds tokens.txt (``token id`` per line, as in icefall) and, for
sentencepiece, sp.model.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from asr.atomic_io import atomic_write_text
from asr.errors import DataError

log = logging.getLogger(__name__)
BLANK = "<blk>"
UNK = "<unk>"
SPACE = "\u2581"  # sentencepiece's word-boundary mark, used by the char tokenizer too
TOKENS_FILE = "tokens.txt"
SP_MODEL = "sp.model"


class Tokenizer(Protocol):
    tokens: list[str]

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Iterable[int]) -> str: ...


def read_tokens(path: Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: token list not found (run the tokenizer stage)")
    tokens: list[str] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a token list: not valid UTF-8 ({e.reason} at byte "
                        f"{e.start})") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) != len(tokens):
            raise DataError(f"{path}:{lineno}: expected '<token> {len(tokens)}', got {line!r}")
        tokens.append(parts[0])
    if tokens[:2] != [BLANK, UNK]:
        raise DataError(f"{path}: ids 0 and 1 must be {BLANK} and {UNK}, got {tokens[:2]}")
    return tokens


def write_tokens(path: Path, tokens: list[str]) -> None:
    atomic_write_text(Path(path), "".join(f"{t} {i}\n" for i, t in enumerate(tokens)))


class CharTokenizer:
    """One token per character; spaces become the word-boundary token."""

    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self._ids = {t: i for i, t in enumerate(tokens)}

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        chars = SPACE.join(text.split())
        return [self._ids.get(c, 1) for c in chars]

    def decode(self, ids: Iterable[int]) -> str:
        s = "".join(self.tokens[i] for i in ids if i > 1)
        return " ".join(s.replace(SPACE, " ").split())

    @staticmethod
    def train(texts: Iterable[str]) -> list[str]:
        counts = Counter(c for t in texts for c in SPACE.join(t.split()))
        return [BLANK, UNK, *sorted(counts)]


class SentencePieceTokenizer:
    """sentencepiece model trained with pad (id 0) as blank and unk at id 1."""

    def __init__(self, model_path: Path):
        import sentencepiece as spm

        try:
            self.sp = spm.SentencePieceProcessor(model_file=str(model_path))
        except (OSError, RuntimeError) as e:  # sentencepiece's parse failures
            raise DataError(f"{model_path}: not a sentencepiece model: {e}") from None
        self.tokens = [self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size())]

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        return self.sp.encode(text)

    def decode(self, ids: Iterable[int]) -> str:
        return self.sp.decode([i for i in ids if i > 0])

    @staticmethod
    def train(texts: Iterable[str], out_dir: Path, model_type: str, vocab_size: int) -> None:
        import sentencepiece as spm

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(list(texts)), model_prefix=str(out_dir / "sp"),
                model_type=model_type, vocab_size=vocab_size, character_coverage=1.0,
                pad_id=0, pad_piece=BLANK, unk_id=1, unk_piece=UNK, bos_id=-1, eos_id=-1,
                input_sentence_size=10_000_000, shuffle_input_sentence=True,
                minloglevel=2)
        except RuntimeError as e:
            raise DataError(f"sentencepiece training failed for --vocab-size {vocab_size}: "
                            f"{e}") from None
        (out_dir / "sp.vocab").unlink(missing_ok=True)
        write_tokens(out_dir / TOKENS_FILE, SentencePieceTokenizer(out_dir / SP_MODEL).tokens)


def train_tokenizer(texts: list[str], out_dir: Path, token_type: str, vocab_size: int = 0) -> None:
    """Build a lang dir from training transcripts."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if token_type == "char":
        write_tokens(out_dir / TOKENS_FILE, CharTokenizer.train(texts))
        (out_dir / SP_MODEL).unlink(missing_ok=True)
    elif token_type in ("bpe", "unigram"):
        if vocab_size <= 2:
            raise DataError(f"--vocab-size must be > 2 for {token_type}, got {vocab_size}")
        SentencePieceTokenizer.train(texts, out_dir, token_type, vocab_size)
    else:
        raise DataError(f"unknown token type '{token_type}' (char, bpe or unigram)")


def load_tokenizer(lang_dir: Path) -> Tokenizer:
    lang_dir = Path(lang_dir)
    if (lang_dir / SP_MODEL).is_file():
        return SentencePieceTokenizer(lang_dir / SP_MODEL)
    return CharTokenizer(read_tokens(lang_dir / TOKENS_FILE))
