"""Decode a Kaldi data dir with an experiment: writes OUT/hyp, and OUT/wer if DATA/text exists.

--data-dir may also be a shard dir written by 'asr shar' (read shard after shard; its
cuts' transcripts are the references).

Features are computed from wav.scp with the exp's feature config and CMVN when the data
dir has no feats.scp. OUT/wer starts with Kaldi's %WER line, then per-utterance alignments.
--checkpoint takes any .pt file holding {"model": state_dict}: an epoch, final.pt, or
the output of 'asr average'. --ctm writes OUT/ctm (Kaldi CTM: word times and
confidences), --json OUT/hyp.jsonl (text, n-best, token and word times, confidences).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from asr.bin import (
    add_data_dir_arguments,
    add_search_arguments,
    add_streaming_arguments,
    log_decode_settings,
    recognizer_from_args,
    search_from_args,
    timing_spec,
)

if TYPE_CHECKING:
    from asr.decode.data_dir import DecodeResult
    from asr.decode.timing import TimingSpec
    from asr.exp.experiment import Experiment

log = logging.getLogger("asr.decode")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_search_arguments(p)
    p.add_argument("--data-dir", type=Path, required=True,
                   help="a Kaldi data dir (wav.scp or feats.scp; text, when present, is "
                        "scored), or a shard dir of 'asr shar'")
    p.add_argument("--out", type=Path, required=True, help="decode dir to write")
    add_data_dir_arguments(p)
    p.add_argument("--ctm", action="store_true",
                   help="also write OUT/ctm: 'utt 1 start dur word conf' per word "
                        "(times from the hypothesis aligned to the model's output)")
    p.add_argument("--json", action="store_true",
                   help="also write OUT/hyp.jsonl: per utterance its text, tokens and words "
                        "with times and confidences, and the n-best list with scores")
    add_streaming_arguments(p)


def main(args: argparse.Namespace) -> int:
    from asr.data.shar_index import is_shard_dir
    from asr.decode.data_dir import decode_data_dir
    from asr.errors import AsrError
    from asr.log_setup import setup_logging

    setup_logging(args.out / "decode.log", file_mode="w")
    streaming = args.streaming or args.chunk_ms is not None or args.tail_padding_ms
    if is_shard_dir(args.data_dir) and (streaming or args.features_from_audio):
        raise AsrError(f"{args.data_dir} is a shard dir: --streaming and "
                       "--features-from-audio read Kaldi data dirs")
    if streaming:
        return decode_streaming(args)
    # oneDNN (torch's CPU kernels) keeps up to 1024 compiled primitives, one per input
    # shape, several MB each; a long data dir brings a new batch shape every batch, and
    # the cache grew a 5 h decode by 700 MB. 16 bound it at no measurable speed cost.
    # Read when oneDNN first runs, so set before the model does.
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")
    exp, search, device = search_from_args(args)
    checkpoint = exp.checkpoint_path(args.checkpoint)
    refs = None
    if is_shard_dir(args.data_dir):
        from asr.decode.shard_dir import decode_shard_dir

        result, refs = decode_shard_dir(exp, str(args.data_dir), args.checkpoint, search,
                                        args.max_frames, device, args.allow_resample,
                                        _timing(args))
    else:
        result = decode_data_dir(exp, args.data_dir, args.checkpoint, search, args.max_frames,
                                 device, args.allow_resample, args.allow_pipes,
                                 args.features_from_audio, _timing(args))
    log_decode_settings(args, exp.path, checkpoint)
    # the time counts from the loaded model to the last hypothesis: features, CMVN stats
    # (the per-speaker first pass included), model and search; start-up and loading not
    log.info("decoded %d utterances, %.1f s of audio in %.1f s: RTF %.4f", len(result.hyps),
             result.audio_seconds, result.decode_seconds, result.rtf)
    if result.stages is not None:
        st = result.stages
        log.info("time: features and CMVN stats %.1f s, model %.1f s, search %.1f s", st.read,
                 st.model, st.search)
    return write_outputs(args, result, exp, refs)


def _timing(args: argparse.Namespace) -> TimingSpec | None:
    """How to time words, when the outputs need times and confidences, else None."""
    return timing_spec(args) if args.ctm or args.json else None


def decode_streaming(args: argparse.Namespace) -> int:
    """'asr decode --streaming': the data dir's utterances as streams, scored as usual."""
    from asr.decode.recognizer import decode_recognizer

    exp, recognizer = recognizer_from_args(args, timing=_timing(args) is not None)
    result = decode_recognizer(recognizer, args.data_dir, args.allow_resample,
                               args.allow_pipes, args.features_from_audio)
    log_decode_settings(args, exp.path, exp.checkpoint_path(args.checkpoint))
    log.info(
        "decoded %d utterances as streams of %g ms chunks, %.1f s of audio in %.1f s: "
        "RTF %.4f", len(result.hyps), args.chunk_ms, result.audio_seconds,
        result.decode_seconds, result.rtf)
    return write_outputs(args, result, exp)


def write_outputs(args: argparse.Namespace, result: DecodeResult, exp: Experiment,
                  refs: dict[str, str] | None = None) -> int:
    """OUT/hyp (and OUT/wer, OUT/ctm, OUT/hyp.jsonl), the %WER line printed with OUT, as
    Kaldi's decode scripts; ``refs``: the transcripts, when not in DATA/text."""
    from asr.decode.output_dir import write_decode_dir, write_details

    summary = write_decode_dir(args.out, args.data_dir, result.hyps, refs)
    write_details(args.out, result.hypotheses, exp.tokenizer, args.ctm, args.json)
    if summary is not None:
        print(f"{summary} {args.out}")
    return 0
