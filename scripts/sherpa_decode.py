#!/usr/bin/env python3
"""Decode with sherpa-onnx (not our code) an export of 'asr export --format sherpa-onnx':
the recognizer is built from the export's sherpa_onnx.json alone, as an app would.

    python scripts/sherpa_decode.py --export EXP/sherpa-onnx --data-dir DATA --out OUT [--int8]
    python scripts/sherpa_decode.py --export EXP/sherpa-onnx a.wav b.wav

Writes OUT/hyp (``utt text``, as 'asr decode' does) and OUT/tokens (the token symbols
per utterance), or prints ``path text`` per file; then the decode's real-time factor. Streams
go to sherpa-onnx in batches (--batch), which it pads: the exported graph masks padding.
A sherpa-onnx error ends the process (exit code 255): run it in a subprocess.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def recognizer_from_json(export: Path, int8: bool = False, threads: int = 1):
    """sherpa-onnx's OfflineRecognizer as sherpa_onnx.json describes it."""
    import sherpa_onnx
    from sherpa_onnx.lib._sherpa_onnx import OfflineRecognizer as _Recognizer

    cfg = json.loads((export / "sherpa_onnx.json").read_text())
    model = cfg["models"]["int8" if int8 else "float"]
    config = sherpa_onnx.OfflineRecognizerConfig(
        feat_config=sherpa_onnx.FeatureExtractorConfig(**cfg["feat_config"]),
        model_config=sherpa_onnx.OfflineModelConfig(
            zipformer_ctc=sherpa_onnx.OfflineZipformerCtcModelConfig(
                model=str(export / model)),
            tokens=str(export / cfg["tokens"]), num_threads=threads),
        decoding_method=cfg["decoding_method"])
    # the Python class's from_* constructors fix the feature settings; the full config
    # goes to the compiled recognizer under it, as those constructors do themselves
    recognizer = sherpa_onnx.OfflineRecognizer.__new__(sherpa_onnx.OfflineRecognizer)
    recognizer.recognizer, recognizer.config = _Recognizer(config), config
    return recognizer, cfg["feat_config"]["sampling_rate"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--export", type=Path, required=True, help="the sherpa-onnx export dir")
    p.add_argument("--data-dir", type=Path, help="a Kaldi data dir (wav.scp) to decode")
    p.add_argument("--out", type=Path, help="with --data-dir: where hyp and tokens go")
    p.add_argument("--int8", action="store_true", help="the int8 model of the export")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=16, help="streams decoded together")
    p.add_argument("wavs", nargs="*", type=Path)
    args = p.parse_args()
    from asr.data.audio import load_audio
    from asr.data.kaldi_dir import DataDir, write_kv
    from asr.decode.silence_cuts import data_dir_audio

    recognizer, rate = recognizer_from_json(args.export, args.int8, args.threads)
    if args.data_dir is not None:
        d = DataDir.load(args.data_dir)
        utts = d.utt_ids
        audio = data_dir_audio(d)
        if audio is None:
            sys.exit(f"{args.data_dir}: no wav.scp (sherpa-onnx computes its features from "
                     "the audio)")
    else:
        utts = [str(w) for w in args.wavs]
        audio = lambda u: load_audio(u, u, allow_pipes=False)  # noqa: E731
    texts, tokens, seconds, t0 = {}, {}, 0.0, time.perf_counter()
    for start in range(0, len(utts), args.batch):
        batch = utts[start:start + args.batch]
        streams = []
        for u in batch:
            samples, file_rate = audio(u)
            if file_rate != rate:
                sys.exit(f"{u}: {file_rate} Hz audio, the model is for {rate} Hz")
            seconds += samples.numel() / file_rate
            s = recognizer.create_stream()
            s.accept_waveform(file_rate, (samples.numpy() / 32768.0).astype(np.float32))
            streams.append(s)
        recognizer.decode_streams(streams)
        for u, s in zip(batch, streams, strict=True):
            texts[u] = " ".join(s.result.text.split())
            tokens[u] = " ".join(s.result.tokens)
    elapsed = time.perf_counter() - t0
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        write_kv(args.out / "hyp", texts)
        write_kv(args.out / "tokens", tokens)
    else:
        for u in utts:
            print(u, texts[u])
    print(f"sherpa-onnx decoded {len(utts)} utterances, {seconds:.1f} s of audio in "
          f"{elapsed:.2f} s: RTF {elapsed / max(seconds, 1e-9):.4f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
