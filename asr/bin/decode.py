"""Decode a Kaldi data dir with an experiment: writes OUT/hyp, and OUT/wer if DATA/text exists.

Features are computed from wav.scp with the exp's feature config and CMVN when the data
dir has no feats.scp. OUT/wer starts with Kaldi's %WER line, then per-utterance alignments.
--checkpoint takes any .pt file holding {"model": state_dict}: an epoch, final.pt, or
the output of 'asr average'.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from asr.bin import add_no_pipes_argument
from asr.bin.streaming import add_streaming_arguments

log = logging.getLogger("asr.decode")


def search_from_args(args: argparse.Namespace):
    """(experiment, search, device) from the options of :func:`add_search_arguments`."""
    from asr.decode.data_dir import make_search
    from asr.device import resolve_device
    from asr.exp.experiment import Experiment

    exp = Experiment.load(args.exp_dir)
    threads = args.search_threads or len(os.sched_getaffinity(0))
    search = make_search(exp, args.method, args.beam, args.token_topk, args.lm, args.lm_weight,
                         args.lm_bonus, args.lm_level, args.vocabulary, args.vocabulary_prior,
                         threads, args.blank_penalty)
    return exp, search, resolve_device(args.device)


def write_decode_dir(out: Path, data_dir: Path, hyps: dict[str, str]) -> None:
    """OUT/hyp; when DATA/text exists also OUT/wer, and its %WER line is printed with OUT.
    Without DATA/text a ``wer`` of an earlier run is removed: every file of a decode dir
    comes from one run (OUT/decode.log says which)."""
    from asr.atomic_io import atomic_write_text
    from asr.data.kaldi_dir import read_kv, write_kv
    from asr.scoring import score

    out.mkdir(parents=True, exist_ok=True)
    write_kv(out / "hyp", hyps)
    text = data_dir / "text"
    if text.is_file():
        report = score(read_kv(text, what="transcript"), hyps)
        atomic_write_text(out / "wer", report.render())
        print(f"{report.summary()} {out}")
    elif (out / "wer").exists():
        (out / "wer").unlink()
        log.info("%s has no text: removed %s of an earlier decode", data_dir, out / "wer")


def log_decode_settings(args: argparse.Namespace, exp_path: Path, checkpoint: Path) -> None:
    """The record a decode dir keeps of what made it (command, model file, search), into
    its decode.log only: the terminal has the command already."""
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
                                           "vocabulary", "streaming", "chunk_ms")
              if hasattr(args, k)}
    record.info("search: %s", ", ".join(f"{k} {v}" for k, v in search.items()))


def add_search_arguments(p: argparse.ArgumentParser) -> None:
    """Model and search options shared by decode and transcribe."""
    p.add_argument("--exp-dir", type=Path, required=True,
                   help="an experiment dir (config.yaml, feats.yaml, lang/, checkpoints)")
    p.add_argument("--checkpoint", help="checkpoint file (default: final.pt, else newest)")
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
    p.add_argument("--device", default="cpu",
                   help="cpu, cuda, cuda:N or auto (the model runs there; the search on CPU)")
    p.add_argument("--allow-resample", action="store_true",
                   help="resample audio at another rate than the exp's features expect")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_search_arguments(p)
    p.add_argument("--data-dir", type=Path, required=True,
                   help="a Kaldi data dir (wav.scp or feats.scp; text, when present, is scored)")
    p.add_argument("--out", type=Path, required=True, help="decode dir to write")
    p.add_argument("--max-frames", type=int, default=20000, help="padded frames per batch")
    p.add_argument("--features-from-audio", action="store_true",
                   help="compute the exp's features from wav.scp even if the data dir has a "
                        "feats.scp (e.g. one made with other fbank options)")
    add_no_pipes_argument(p)
    add_streaming_arguments(p)


def main(args: argparse.Namespace) -> int:
    from asr.decode.data_dir import decode_data_dir
    from asr.log_setup import setup_logging

    setup_logging(args.out / "decode.log", file_mode="w")
    if args.streaming or args.chunk_ms is not None:
        from asr.bin.streaming import decode_main

        return decode_main(args)
    # oneDNN (torch's CPU kernels) keeps up to 1024 compiled primitives, one per input
    # shape, several MB each; a long data dir brings a new batch shape every batch, and
    # the cache grew a 5 h decode by 700 MB. 16 bound it at no measurable speed cost.
    # Read when oneDNN first runs, so set before the model does.
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")
    exp, search, device = search_from_args(args)
    checkpoint = exp.checkpoint_path(args.checkpoint)
    result = decode_data_dir(exp, args.data_dir, args.checkpoint, search, args.max_frames,
                             device, args.allow_resample, args.allow_pipes,
                             args.features_from_audio)
    log_decode_settings(args, exp.path, checkpoint)
    # the time counts from the loaded model to the last hypothesis: features, CMVN stats
    # (the per-speaker first pass included), model and search; start-up and loading not
    log.info("decoded %d utterances, %.1f s of audio in %.1f s: RTF %.4f", len(result.hyps),
             result.audio_seconds, result.decode_seconds, result.rtf)
    if result.stages is not None:
        st = result.stages
        log.info("time: features and CMVN stats %.1f s, model %.1f s, search %.1f s", st.read,
                 st.model, st.search)
    write_decode_dir(args.out, args.data_dir, result.hyps)
    return 0
