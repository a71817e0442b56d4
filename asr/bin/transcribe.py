"""Transcribe audio files with an experiment: prints '<file> <text>' per file.

Features, CMVN and tokens come from the exp dir; with per-speaker CMVN each file is
normalized by its own statistics. Search options are those of 'asr decode'.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.bin.decode import add_search_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_search_arguments(p)
    p.add_argument("audio", nargs="+", type=Path, help="wav, flac, ... files (mono)")


def main(args: argparse.Namespace) -> int:
    import logging

    from asr.exp_dir import Experiment
    from asr.inference import make_search, transcribe_files
    from asr.utils import resolve_device, setup_logging

    setup_logging(level=logging.WARNING)
    exp = Experiment.load(args.exp_dir)
    search = make_search(exp, args.method, args.beam, args.token_topk, args.lm, args.lm_weight,
                         args.lm_bonus, args.lm_level)
    result = transcribe_files(exp, args.audio, args.checkpoint, search,
                              resolve_device(args.device), args.allow_resample)
    for path in args.audio:
        print(f"{path} {result.hyps[str(path)]}".rstrip())
    return 0
