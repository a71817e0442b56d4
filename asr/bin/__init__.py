"""One module per ``asr`` subcommand, each with add_arguments(parser) and main(args); the
options several subcommands share are defined here, once."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from asr.decode.defaults import DEFAULT_CHUNK_MS, DEFAULT_HOTWORD_WEIGHT, DEFAULT_MAX_FRAMES


def add_no_pipes_argument(p: argparse.ArgumentParser) -> None:
    """``--no-pipes`` (sets ``args.allow_pipes`` False) for commands that read wav.scp audio."""
    p.add_argument("--no-pipes", dest="allow_pipes", action="store_false",
                   help="refuse wav.scp/feats.scp entries of the form 'cmd |' (reading them "
                        "runs cmd in a shell) before anything is read, instead of running them")


def parse_range(option: str, value: str) -> tuple[float, float]:
    """'0:20' -> (0.0, 20.0); '10' -> (10.0, 10.0)."""
    from asr.errors import AsrError

    parts = value.split(":")
    try:
        if len(parts) in (1, 2):
            return float(parts[0]), float(parts[-1])
    except ValueError:
        pass
    raise AsrError(f"{option}: expected LOW:HIGH (or one number), got '{value}'")


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The exp and checkpoint to run (decode, transcribe, align)."""
    p.add_argument("--exp-dir", type=Path, required=True,
                   help="an experiment dir (config.yaml, feats.yaml, lang/, checkpoints)")
    p.add_argument("--checkpoint", help="checkpoint file (default: final.pt, else newest)")


def add_device_arguments(p: argparse.ArgumentParser) -> None:
    """Where the model runs, and whether audio at another rate is resampled."""
    p.add_argument("--device", default="cpu",
                   help="cpu, cuda, cuda:N or auto (the model runs there; the search on CPU)")
    p.add_argument("--allow-resample", action="store_true",
                   help="resample audio at another rate than the exp's features expect")


def add_data_dir_arguments(p: argparse.ArgumentParser) -> None:
    """How a data dir is read in batches (decode, align)."""
    p.add_argument("--max-frames", type=int, default=DEFAULT_MAX_FRAMES,
                   help="padded frames per batch")
    p.add_argument("--features-from-audio", action="store_true",
                   help="compute the exp's features from wav.scp even if the data dir has a "
                        "feats.scp (e.g. one made with other fbank options)")
    add_no_pipes_argument(p)


def add_search_arguments(p: argparse.ArgumentParser) -> None:
    """Model and search options shared by decode and transcribe."""
    add_model_arguments(p)
    p.add_argument("--method", choices=["greedy", "prefix_beam", "vocabulary"],
                   help="the search",
                   default="greedy")
    p.add_argument("--beam", type=int, default=10, help="beam size for prefix_beam")
    p.add_argument("--token-topk", type=int, default=None,
                   help="tokens per frame that may extend a prefix (default: --beam)")
    p.add_argument("--lm", type=Path,
                   help="n-gram LM for shallow fusion (prefix_beam): an ARPA file (compiled "
                        "on first use into LM.asrlm beside it, reused while it is unchanged) "
                        "or a compiled LM from 'asr compile-lm'")
    p.add_argument("--lm-weight", type=float, default=0.5, help="weight of the LM log-prob")
    p.add_argument("--lm-bonus", type=float, default=0.0,
                   help="added per LM word (or token): offsets the LM's short-output bias")
    p.add_argument("--lm-level", choices=["word", "token"], default="word",
                   help="word: LM over words; token: LM over the lang dir's tokens")
    p.add_argument("--hotwords", type=Path,
                   help="prefix_beam: a file of words or phrases to favour, one per line, "
                        "each optionally followed by its weight (reward per token, log-prob "
                        "units; default --hotword-weight)")
    p.add_argument("--hotword-weight", type=float, default=DEFAULT_HOTWORD_WEIGHT,
                   help="the weight of hotwords whose line gives none")
    p.add_argument("--blank-penalty", type=float, default=0.0,
                   help="subtracted from every frame's blank log-prob before the search "
                        "(icefall, sherpa-onnx): > 0 trades deletions for insertions")
    p.add_argument("--vocabulary", type=Path,
                   help="--method vocabulary: a file of allowed transcripts, one per line "
                        "(e.g. the training text without ids); each utterance becomes the "
                        "entry of highest CTC likelihood")
    p.add_argument("--vocabulary-prior", action="store_true",
                   help="add the log relative frequency of each entry in --vocabulary")
    p.add_argument("--search-threads", type=int, default=0,
                   help="threads for the prefix beam search, one utterance each (default: "
                        "every core this process may use); the output is the same for any")
    p.add_argument("--nbest", type=int, default=1,
                   help="prefix_beam: keep the N best hypotheses with their log scores "
                        "(decode: in --json; transcribe: printed after the best)")
    add_timing_arguments(p)
    add_device_arguments(p)


def add_timing_arguments(p: argparse.ArgumentParser) -> None:
    """``--confidence`` and ``--word-times``: how word confidences and times are made."""
    p.add_argument("--confidence", choices=["prob", "entropy", "tsallis"], default="prob",
                   help="the frame confidence measure of word and token confidences: "
                        "max posterior, 1 - normalized Gibbs entropy, or Tsallis "
                        "entropy of index 1/3 (NeMo's); docs/decoding.md compares them")
    p.add_argument("--word-times", choices=["speech", "spikes"], default="speech",
                   help="spikes: a word spans its tokens' CTC frames; speech: that span "
                        "moved onto the speech segment (from the fbank energy) it overlaps "
                        "most, as CTC spikes are early and short (docs/decoding.md)")


def timing_spec(args: argparse.Namespace):
    """The :class:`asr.decode.timing.TimingSpec` of :func:`add_timing_arguments`."""
    from asr.decode.timing import TimingSpec

    return TimingSpec(args.confidence, args.word_times)


def add_streaming_arguments(p: argparse.ArgumentParser, streaming_help: str | None = None,
                            tail_padding: bool = True) -> None:
    """``--streaming`` (decode as a stream, unless ``streaming_help`` says what it does
    for this command), ``--chunk-ms`` and (with ``tail_padding``) ``--tail-padding-ms``."""
    p.add_argument("--streaming", action="store_true",
                   help=streaming_help or "decode as a stream, chunk by chunk with the "
                   "model's caches (a model trained with encoder.chunk.sizes, or an lstm "
                   "encoder)")
    p.add_argument("--chunk-ms", type=float, default=None,
                   help="--streaming: chunk length in ms, one the model was trained for "
                        f"(default {DEFAULT_CHUNK_MS:g})")
    if not tail_padding:
        return
    p.add_argument("--tail-padding-ms", type=float, default=0.0,
                   help="--streaming: end each utterance with this much digital silence, "
                        "as a runtime that decodes whole chunks only does (sherpa-onnx: "
                        "the export's tail_padding_s); default 0: the last partial chunk is "
                        "decoded as it is")


def search_spec_from_args(args: argparse.Namespace):
    """The :class:`asr.decode.search.SearchSpec` of :func:`add_search_arguments`' options."""
    from asr.decode.search import SearchSpec

    threads = args.search_threads or len(os.sched_getaffinity(0))
    return SearchSpec(args.method, args.beam, args.token_topk, args.lm, args.lm_weight,
                      args.lm_bonus, args.lm_level, args.vocabulary, args.vocabulary_prior,
                      threads, args.blank_penalty, args.nbest, args.hotwords,
                      args.hotword_weight)


def search_from_args(args: argparse.Namespace):
    """(experiment, search, device) from the options of :func:`add_search_arguments`."""
    from asr.decode.search import make_search
    from asr.device import resolve_device
    from asr.exp.experiment import Experiment

    spec = search_spec_from_args(args)
    exp = Experiment.load(args.exp_dir)
    return exp, make_search(exp, spec), resolve_device(args.device)


def recognizer_from_args(args: argparse.Namespace, timing: bool = False):
    """(experiment, StreamingRecognizer) from the search and streaming options; with
    ``timing`` its hypotheses get times and confidences (``args.confidence``)."""
    from asr.decode.recognizer import StreamingRecognizer
    from asr.decode.search import make_search
    from asr.device import resolve_device
    from asr.errors import AsrError
    from asr.exp.experiment import Experiment

    if not args.streaming:
        given = "--chunk-ms" if args.chunk_ms is not None else "--tail-padding-ms"
        raise AsrError(f"{given} needs --streaming")
    args.chunk_ms = DEFAULT_CHUNK_MS if args.chunk_ms is None else args.chunk_ms
    spec = search_spec_from_args(args)
    exp = Experiment.load(args.exp_dir)
    return exp, StreamingRecognizer(exp, args.chunk_ms, args.checkpoint,
                                    make_search(exp, spec, streaming=True),
                                    resolve_device(args.device), spec.nbest,
                                    timing_spec(args) if timing else None,
                                    args.tail_padding_ms)


def log_decode_settings(args: argparse.Namespace, exp_path: Path, checkpoint: Path) -> None:
    """The record a decode dir keeps of what made it (command, model file, search), into
    its decode.log only: the terminal has the command already."""
    import logging
    import shlex

    record = logging.getLogger("asr.decode.record")
    record.propagate = False
    record.setLevel(logging.INFO)
    record.handlers = [h for h in logging.getLogger().handlers
                       if isinstance(h, logging.FileHandler)]
    record.info("asr %s", shlex.join(getattr(args, "argv", [])))
    record.info("exp %s, checkpoint %s", exp_path, checkpoint)
    search = {k: getattr(args, k) for k in ("method", "beam", "token_topk", "lm", "lm_weight",
                                           "lm_bonus", "lm_level", "blank_penalty",
                                           "vocabulary", "hotwords", "hotword_weight", "nbest",
                                           "confidence", "word_times",
                                           "streaming", "chunk_ms", "tail_padding_ms")
              if hasattr(args, k)}
    record.info("search: %s", ", ".join(f"{k} {v}" for k, v in search.items()))
