"""Hotword lists (``--hotwords FILE``): a word or phrase per line, optionally followed by its
boost, compiled into the context graph the prefix beam search rewards them with.

    FOLLOW 2.0
    LEARN
    TURN OFF 1.5

A line's last field is its weight when it parses as a number (the reward per token while
the phrase is followed, in log-probability units); otherwise the whole line is the phrase
and gets the default weight. Phrases are tokenized as transcripts are.
"""

from __future__ import annotations

import math
from pathlib import Path

from asr.data.tokenizer import Tokenizer
from asr.decode.defaults import DEFAULT_HOTWORD_WEIGHT
from asr.errors import DataError
from asr.functional.context_graph import ContextGraph, build_context_graph


def read_hotwords(path: Path, default_weight: float = DEFAULT_HOTWORD_WEIGHT
                  ) -> list[tuple[str, float]]:
    """(phrase, weight) per non-empty line of ``path``; errors name the file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: hotword file not found") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a hotword file: not valid UTF-8 ({e.reason} at byte "
                        f"{e.start})") from None
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        weight = default_weight
        if len(fields) > 1:
            try:
                weight = float(fields[-1])
                fields = fields[:-1]
            except ValueError:
                pass
        if not math.isfinite(weight) or weight <= 0:
            raise DataError(f"{path}:{n}: a hotword's weight must be a positive number, got "
                            f"{weight:g}: {line!r}")
        out.append((" ".join(fields), weight))
    if not out:
        raise DataError(f"{path}: no hotwords in it")
    return out


def hotword_graph(path: Path, tokenizer: Tokenizer,
                  default_weight: float = DEFAULT_HOTWORD_WEIGHT) -> ContextGraph:
    """The context graph of the hotwords in ``path`` over ``tokenizer``'s tokens; a phrase
    with a token the tokenizer does not know (<unk>, id 1) is an error: the model never
    outputs <unk>, so it could never match."""
    entries = []
    for phrase, weight in read_hotwords(path, default_weight):
        ids = tokenizer.encode(phrase)
        if 1 in ids:
            raise DataError(f"{path}: hotword '{phrase}' has characters or pieces outside the "
                            "model's tokens (it could never be recognized)")
        entries.append((ids, weight))
    return build_context_graph(entries, len(tokenizer.tokens))
