"""Check a Kaldi data dir and report every defect with counts and examples.

Checks: unsorted or duplicate keys, blank lines, ids present in one file and not another,
empty transcripts, non-UTF-8 lines, malformed segments/utt2dur/utt2num_frames,
utt2spk/spk2utt disagreement and, with --tokens, words with characters or pieces outside
the token list. Exits 0 when clean; otherwise prints the report and exits 2
('asr fix-data' repairs most of it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.bin import add_no_pipes_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", type=Path, metavar="DATA_DIR", help="the data dir to check")
    p.add_argument("--tokens", type=Path,
                   help="lang dir or its tokens.txt: report words outside the token list")
    p.add_argument("--examples", type=int, default=3, help="examples shown per defect class")
    add_no_pipes_argument(p)


def main(args: argparse.Namespace) -> int:
    from asr.data.tokenizer import TOKENS_FILE, load_tokenizer
    from asr.data.validate import validate_data_dir
    from asr.errors import DataError

    tokenizer = None
    if args.tokens is not None:
        if args.tokens.is_file() and args.tokens.name != TOKENS_FILE:
            raise DataError(f"--tokens {args.tokens}: expected a lang dir or its {TOKENS_FILE}")
        tokenizer = load_tokenizer(args.tokens.parent if args.tokens.is_file() else args.tokens)
    report = validate_data_dir(args.data_dir, tokenizer, args.allow_pipes)
    if report.defects:
        raise DataError(report.format(args.examples) + "\n" + report.advice())
    print(report.format())
    return 0
