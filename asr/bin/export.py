"""Export an experiment's model to TorchScript or ONNX: (feats, lengths) -> log-probs.

The graph maps CMVN-normalized fbank features (N, T, D) and lengths (N,), as the exp's
feature config and CMVN produce them, to CTC log-probs (N, T', V) (blank = 0) and output
lengths (N,). Batch size and length are dynamic. ONNX needs the 'export' extra.
``--streaming`` exports one chunk step instead, its caches as fixed-shape inputs and
outputs (asr.decode.export_step; docs/streaming.md). Either way OUT with .json says
what a runtime needs: the features, the CMVN, the tokens (docs/decoding.md, "Export").
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.bin import add_streaming_arguments
from asr.decode.defaults import DEFAULT_CHUNK_MS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exp-dir", type=Path, required=True, help="the experiment to export")
    p.add_argument("--format", choices=["torchscript", "onnx", "sherpa-onnx"], required=True,
                   help="the file format of the exported model; sherpa-onnx: a dir that "
                        "sherpa-onnx's CTC recognizer runs as it is (model.onnx, "
                        "tokens.txt, sherpa_onnx.json, README.md): its OfflineRecognizer, "
                        "or with --streaming its OnlineRecognizer (a chunked Conformer)")
    p.add_argument("--quantize", choices=["int8"],
                   help="onnx, sherpa-onnx: also write int8 weights (onnxruntime dynamic "
                        "quantization) beside the float model, as *.int8.onnx")
    p.add_argument("--checkpoint", help="checkpoint file (default: final.pt, else newest)")
    p.add_argument("--out", type=Path,
                   help="file to write (default: EXP/model.pt or EXP/model.onnx; "
                        "EXP/model_streaming.pt or .onnx with --streaming; the dir "
                        "EXP/sherpa-onnx for sherpa-onnx)")
    add_streaming_arguments(p, "export one chunk step with its caches as inputs and "
                               "outputs (OUT with .json says how to drive it)",
                            tail_padding=False)
    p.add_argument("--normalize-samples", action="store_true",
                   help="sherpa-onnx offline: for its default normalize_samples=True "
                        "(samples in [-1, 1]), so apps with stock settings run the exp; the "
                        "graph shifts the features back to the int16 scale (near-exact: "
                        "the quietest frames differ, docs/decoding.md)")
    p.add_argument("--left-chunks", type=int, default=None,
                   help="with --streaming: a Conformer's chunks of left context, a fixed "
                        "maximum (default: the trained encoder.chunk.left_chunks)")


def main(args: argparse.Namespace) -> int:
    import logging
    import warnings

    import torch

    from asr.decode.export import export_onnx, export_torchscript, offline_metadata
    from asr.decode.export_metadata import write_metadata
    from asr.errors import AsrError
    from asr.exp.experiment import Experiment
    from asr.log_setup import setup_logging

    setup_logging()
    if not args.streaming and (args.chunk_ms is not None or args.left_chunks is not None):
        raise AsrError("--chunk-ms and --left-chunks need --streaming")
    if args.normalize_samples and (args.format != "sherpa-onnx" or args.streaming):
        raise AsrError("--normalize-samples is for --format sherpa-onnx without --streaming")
    if args.quantize and args.format == "torchscript":
        raise AsrError("--quantize int8 is for --format onnx or sherpa-onnx")
    exp = Experiment.load(args.exp_dir)
    if args.format == "sherpa-onnx":
        from asr.decode.export_sherpa import sherpa_refusal

        refusal = sherpa_refusal(exp, args.streaming)  # before the model loads: fix first
        if refusal:
            raise AsrError(refusal)
    model = exp.load_model(args.checkpoint)
    name = "model_streaming" if args.streaming else "model"
    out = args.out or exp.path / ("sherpa-onnx" if args.format == "sherpa-onnx" else
                                  name + (".pt" if args.format == "torchscript" else ".onnx"))
    with warnings.catch_warnings():
        # tracing warns about Python-level shape checks; export tests check the results
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        # the dynamo exporter's notes on its own internals (pytree API changes, axis
        # renaming, optimizer passes, absent torchvision ops) say nothing about the model
        warnings.filterwarnings("ignore", module=r"(torch\.onnx|copyreg)")
        for name in ("torch.onnx", "onnx_ir", "onnxscript"):
            logging.getLogger(name).setLevel(logging.ERROR)
        if args.format in ("onnx", "sherpa-onnx"):
            try:
                import onnx  # noqa: F401
            except ImportError:
                raise AsrError("ONNX export needs the onnx package: pip install -e '.[export]'") \
                    from None
        if args.streaming and args.format == "sherpa-onnx":
            from asr.decode.export_sherpa_streaming import export_sherpa_streaming

            chunk_ms = DEFAULT_CHUNK_MS if args.chunk_ms is None else args.chunk_ms
            meta = export_sherpa_streaming(exp, model, out, chunk_ms, args.left_chunks,
                                           args.quantize)
            logging.info("wrote %s (sherpa-onnx's online recognizer settings; README.md "
                         "beside it)", meta)
        elif args.streaming:
            from asr.decode.export_step import export_experiment_streaming

            chunk_ms = DEFAULT_CHUNK_MS if args.chunk_ms is None else args.chunk_ms
            meta = export_experiment_streaming(exp, model, args.format, out, chunk_ms,
                                               args.left_chunks)
            logging.info("wrote %s (its inputs, outputs and caches)", meta)
        elif args.format == "sherpa-onnx":
            from asr.decode.export_sherpa import export_sherpa_offline

            meta = export_sherpa_offline(exp, model, out, args.quantize,
                                         args.normalize_samples)
            logging.info("wrote %s (sherpa-onnx's recognizer settings; README.md beside it)",
                         meta)
        else:
            (export_torchscript if args.format == "torchscript" else export_onnx)(
                model, exp.feats.num_mel_bins, out)
            meta = write_metadata(out, offline_metadata(exp, model, args.format))
            logging.info("wrote %s (features, CMVN, tokens: what a runtime needs)", meta)
        if args.quantize and args.format == "onnx":
            from asr.decode.export import quantize_int8

            int8 = out.with_suffix(".int8.onnx")
            quantize_int8(out, int8)
            logging.info("wrote %s (int8 weights)", int8)
    logging.info("wrote %s (%s)", out, args.format)
    return 0
