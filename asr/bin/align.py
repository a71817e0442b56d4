"""Force-align a data dir's transcripts to its audio with a model: word times and a fit score.

Writes OUT/ctm (``utt 1 start dur word conf``, the transcript's words timed), OUT/scores
(``utt score``: the forced path's log-probability minus the best free path's, per model
frame; 0 is a perfect fit) and OUT/flagged (``utt reason``: a score under --threshold, or
a transcript the audio cannot hold), and prints how many were flagged. A flagged
utterance's transcript probably does not match its audio (data clean-up: fix or drop
them: 'asr subset-data --utt-list' with the other utterances keeps the rest).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.bin import (
    add_data_dir_arguments,
    add_device_arguments,
    add_model_arguments,
    add_timing_arguments,
    timing_spec,
)
from asr.decode.defaults import DEFAULT_FLAG_THRESHOLD


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    p.add_argument("--data-dir", type=Path, required=True,
                   help="a Kaldi data dir with text (wav.scp or feats.scp)")
    p.add_argument("--out", type=Path, required=True, help="alignment dir to write")
    p.add_argument("--threshold", type=float, default=DEFAULT_FLAG_THRESHOLD,
                   help="flag utterances whose fit score (per model frame, <= 0) is lower")
    add_timing_arguments(p)
    add_device_arguments(p)
    add_data_dir_arguments(p)


def main(args: argparse.Namespace) -> int:
    from asr.data.ctm import write_ctm
    from asr.data.kaldi_dir import write_kv
    from asr.decode.align import align_data_dir
    from asr.device import resolve_device
    from asr.exp.experiment import Experiment
    from asr.log_setup import setup_logging

    setup_logging(args.out / "align.log", file_mode="w")
    exp = Experiment.load(args.exp_dir)
    result = align_data_dir(exp, args.data_dir, args.checkpoint, args.threshold,
                            timing_spec(args), args.max_frames, resolve_device(args.device),
                            args.allow_resample, args.allow_pipes, args.features_from_audio)
    hyps = result.hypotheses
    write_ctm(args.out / "ctm", {u: h.timed.words for u, h in hyps.items() if h.timed})
    write_kv(args.out / "scores", {u: f"{h.score:.4f}" for u, h in hyps.items()})
    write_kv(args.out / "flagged", result.flagged)
    print(f"aligned {len(hyps)} utterances, {len(result.flagged)} flagged (fit score < "
          f"{args.threshold:g} or no alignment): {args.out / 'flagged'}")
    return 0
