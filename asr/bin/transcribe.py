"""Transcribe audio files with an experiment: prints '<file> <text>' per file.

Features, CMVN and tokens come from the exp dir. With per-speaker CMVN each file is its
own speaker, its statistics topped up with the training set's to data.cmvn_prior_frames
frames (a short file's own are too noisy), or, with --one-speaker, the files are one
speaker's, pooled as 'asr decode' pools a speaker's utterances. Search options are those
of 'asr decode'. A file that cannot be read gets an error line on stderr and the others
are still transcribed; the exit status is then 1 (2 when no file could be read).
--timestamps adds a CTM line per word (``<file> 1 start dur word conf``) after the
file's text; --nbest N adds ``<file> nbest <rank> <score> <text>`` lines.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from asr.bin import add_search_arguments, add_streaming_arguments, search_from_args, timing_spec

if TYPE_CHECKING:
    from asr.data.tokenizer import Tokenizer
    from asr.decode.hypothesis import Hypothesis


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_search_arguments(p)
    p.add_argument("audio", nargs="+", type=Path, help="wav, flac, ... files (mono)")
    p.add_argument("--one-speaker", action="store_true",
                   help="per-speaker CMVN: the files are one speaker's (stats pooled over "
                        "them all); default: each file its own, topped up with the "
                        "training statistics")
    p.add_argument("--channel", type=int, default=None,
                   help="the channel of multi-channel files to recognize, from 0 (without "
                        "it such a file is an error: a two-speaker call is never downmixed)")
    p.add_argument("--max-seconds", type=float, default=600.0,
                   help="refuse longer files before reading them: a file goes through the "
                        "model in one piece (default 600; 0: no limit)")
    p.add_argument("--timestamps", action="store_true",
                   help="after each file's text, its words as CTM lines with confidences")
    add_streaming_arguments(p)


def print_details(path: str, hyp: Hypothesis, tokenizer: Tokenizer) -> None:
    """The n-best lines and the CTM lines of one file's hypothesis (what it has)."""
    from asr.data.ctm import format_ctm

    for rank, (ids, score) in enumerate(hyp.nbest or [], start=1):
        print(f"{path} nbest {rank} {score:.4f} {tokenizer.decode(ids)}".rstrip())
    if hyp.timed is not None:
        print(format_ctm({path: hyp.timed.words}), end="")


def main(args: argparse.Namespace) -> int:
    import logging

    from asr.decode.files import transcribe_files
    from asr.log_setup import setup_logging

    setup_logging(level=logging.WARNING)
    if args.streaming or args.chunk_ms is not None or args.tail_padding_ms:
        return transcribe_streaming(args)
    exp, search, device = search_from_args(args)
    result = transcribe_files(exp, args.audio, args.checkpoint, search, device,
                              args.allow_resample, args.one_speaker, args.max_seconds,
                              args.channel, timing_spec(args) if args.timestamps else None)
    for path in args.audio:
        if str(path) in result.errors:
            print(f"asr transcribe: error: {result.errors[str(path)]}", file=sys.stderr)
        else:
            print(f"{path} {result.hyps[str(path)]}".rstrip())
            print_details(str(path), result.hypotheses[str(path)], exp.tokenizer)
    if result.errors:
        return 1 if result.hyps else 2  # some files transcribed, or none
    return 0


def transcribe_streaming(args: argparse.Namespace) -> int:
    """'asr transcribe --streaming': each file fed one chunk of audio at a time; prints
    ``<file> (partial) <text>`` whenever the partial text changes, then ``<file> <text>``."""
    from asr.bin import recognizer_from_args
    from asr.data.audio import load_audio, resample
    from asr.errors import AsrError

    exp, recognizer = recognizer_from_args(args, timing=args.timestamps)
    step = max(1, int(recognizer.sample_rate * args.chunk_ms / 1000))
    for path in args.audio:
        samples, rate = load_audio(str(path), str(path), allow_pipes=False,
                                   channel=getattr(args, "channel", None))
        if rate != recognizer.sample_rate and args.allow_resample:
            samples, rate = resample(samples, rate, recognizer.sample_rate), \
                recognizer.sample_rate
        audio = (samples / 32768.0).numpy()  # load_audio gives int16 scale
        shown = ""
        for start in range(0, audio.size, step):
            try:
                partial = recognizer.accept_waveform(audio[start:start + step], rate)
            except AsrError as e:
                raise AsrError(f"{path}: {e}") from None
            if partial != shown:
                print(f"{path} (partial) {partial}".rstrip(), flush=True)
                shown = partial
        hyp = recognizer.finalize_hypothesis()
        print(f"{path} {exp.tokenizer.decode(hyp.ids)}".rstrip(), flush=True)
        print_details(str(path), hyp, exp.tokenizer)
    return 0
