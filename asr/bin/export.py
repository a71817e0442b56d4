"""Export an experiment's model to TorchScript or ONNX: (feats, lengths) -> log-probs.

The graph maps CMVN-normalized fbank features (N, T, D) and lengths (N,), as the exp's
feature config and CMVN produce them, to CTC log-probs (N, T', V) (blank = 0) and output
lengths (N,). Batch size and length are dynamic. ONNX needs the 'export' extra.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--format", choices=["torchscript", "onnx"], required=True)
    p.add_argument("--checkpoint", help="checkpoint file (default: final.pt, else newest)")
    p.add_argument("--out", type=Path,
                   help="file to write (default: EXP/model.pt or EXP/model.onnx)")


def main(args: argparse.Namespace) -> int:
    import logging
    import warnings

    import torch

    from asr.decode.export import export_onnx, export_torchscript
    from asr.errors import AsrError
    from asr.exp.experiment import Experiment
    from asr.log_setup import setup_logging

    setup_logging()
    exp = Experiment.load(args.exp_dir)
    model = exp.load_model(args.checkpoint)
    out = args.out or exp.path / ("model.pt" if args.format == "torchscript" else "model.onnx")
    with warnings.catch_warnings():
        # tracing warns about Python-level shape checks; export tests check the results
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        if args.format == "torchscript":
            export_torchscript(model, exp.feats.num_mel_bins, out)
        else:
            try:
                import onnx  # noqa: F401
            except ImportError:
                raise AsrError("ONNX export needs the onnx package: pip install -e '.[export]'") \
                    from None
            export_onnx(model, exp.feats.num_mel_bins, out)
    logging.info("wrote %s (%s)", out, args.format)
    return 0
