"""``--streaming`` for 'asr decode' and 'asr transcribe' (not a subcommand of its own):
the options, and what the two commands do with them."""

from __future__ import annotations

import argparse
import logging

from asr.errors import AsrError


def add_streaming_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--streaming", action="store_true",
                   help="decode as a stream, chunk by chunk with the model's caches (a model "
                        "trained with encoder.chunk.sizes, or an lstm encoder)")
    p.add_argument("--chunk-ms", type=float, default=None,
                   help="--streaming: chunk length in ms, one the model was trained for "
                        "(default 320)")


def _recognizer_from_args(args: argparse.Namespace):
    from asr.decode.streaming import StreamingRecognizer, make_streaming_search
    from asr.device import resolve_device
    from asr.exp.experiment import Experiment

    if not args.streaming:
        raise AsrError("--chunk-ms needs --streaming")
    args.chunk_ms = 320.0 if args.chunk_ms is None else args.chunk_ms
    exp = Experiment.load(args.exp_dir)
    search = make_streaming_search(exp, args.method, args.beam, args.token_topk, args.lm,
                                   args.lm_weight, args.lm_bonus, args.lm_level,
                                   args.blank_penalty)
    return exp, StreamingRecognizer(exp, args.chunk_ms, args.checkpoint, search,
                                    resolve_device(args.device))


def decode_main(args: argparse.Namespace) -> int:
    """'asr decode --streaming': the data dir's utterances as streams, scored as usual."""
    from asr.bin.decode import log_decode_settings, write_decode_dir
    from asr.decode.streaming import decode_recognizer

    exp, recognizer = _recognizer_from_args(args)
    result = decode_recognizer(recognizer, args.data_dir, args.allow_resample,
                               args.allow_pipes, args.features_from_audio)
    log_decode_settings(args, exp.path, exp.checkpoint_path(args.checkpoint))
    logging.getLogger("asr.decode").info(
        "decoded %d utterances as streams of %g ms chunks, %.1f s of audio in %.1f s: "
        "RTF %.4f", len(result.hyps), args.chunk_ms, result.audio_seconds,
        result.decode_seconds, result.rtf)
    write_decode_dir(args.out, args.data_dir, result.hyps)
    return 0


def transcribe_main(args: argparse.Namespace) -> int:
    """'asr transcribe --streaming': each file fed one chunk of audio at a time; prints
    ``<file> (partial) <text>`` whenever the partial text changes, then ``<file> <text>``."""
    from asr.data.audio import load_audio, resample

    _, recognizer = _recognizer_from_args(args)
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
        print(f"{path} {recognizer.finalize()}".rstrip(), flush=True)
    return 0
