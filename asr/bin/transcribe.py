"""Transcribe audio files with an experiment: prints '<file> <text>' per file.

Features, CMVN and tokens come from the exp dir; with per-speaker CMVN each file is
normalized by its own statistics. Search options are those of 'asr decode'.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.bin.decode import add_search_arguments
from asr.bin.streaming import add_streaming_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_search_arguments(p)
    p.add_argument("audio", nargs="+", type=Path, help="wav, flac, ... files (mono)")
    add_streaming_arguments(p)


def main(args: argparse.Namespace) -> int:
    import logging

    from asr.bin.decode import search_from_args
    from asr.decode.data_dir import transcribe_files
    from asr.log_setup import setup_logging

    setup_logging(level=logging.WARNING)
    if args.streaming or args.chunk_ms is not None:
        from asr.bin.streaming import transcribe_main

        return transcribe_main(args)
    exp, search, device = search_from_args(args)
    result = transcribe_files(exp, args.audio, args.checkpoint, search, device,
                              args.allow_resample)
    for path in args.audio:
        print(f"{path} {result.hyps[str(path)]}".rstrip())
    return 0
