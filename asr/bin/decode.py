"""Decode a Kaldi data dir with an experiment: writes OUT/hyp, and OUT/wer if DATA/text exists.

Features are computed from wav.scp with the exp's feature config and CMVN when the data
dir has no feats.scp. OUT/wer starts with Kaldi's %WER line, then per-utterance alignments.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="decode dir to write")
    p.add_argument("--method", choices=["greedy", "prefix_beam"], default="greedy")
    p.add_argument("--beam", type=int, default=10, help="beam size for prefix_beam")
    p.add_argument("--checkpoint", help="checkpoint file (default: final.pt, else newest)")
    p.add_argument("--max-frames", type=int, default=20000, help="padded frames per batch")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--allow-resample", action="store_true",
                   help="resample audio at another rate than the exp's features expect")


def main(args: argparse.Namespace) -> int:
    import logging

    from asr.data.kaldi_dir import read_kv, write_kv
    from asr.errors import AsrError
    from asr.exp_dir import Experiment
    from asr.inference import decode_data_dir
    from asr.scoring import score
    from asr.utils import atomic_write_text, resolve_device, setup_logging

    setup_logging()
    if args.beam < 1:
        raise AsrError(f"--beam must be >= 1, got {args.beam}")
    device = resolve_device(args.device)
    exp = Experiment.load(args.exp_dir)
    result = decode_data_dir(exp, args.data_dir, args.checkpoint, args.method, args.beam,
                             args.max_frames, device, args.allow_resample)
    args.out.mkdir(parents=True, exist_ok=True)
    write_kv(args.out / "hyp", result.hyps)
    logging.info("decoded %d utterances, %.1f s of audio in %.1f s: RTF %.4f",
                 len(result.hyps), result.audio_seconds, result.decode_seconds, result.rtf)
    text = args.data_dir / "text"
    if text.is_file():
        report = score(read_kv(text, what="transcript"), result.hyps)
        atomic_write_text(args.out / "wer", report.render())
        print(f"{report.summary()} {args.out}")
    return 0
