#!/usr/bin/env python3
"""Decode with sherpa-onnx (not our code) an export of 'asr export --format sherpa-onnx'
(offline, or --streaming): the recognizer is built from the export's sherpa_onnx.json
alone, as an app would.

    python scripts/sherpa_decode.py --export EXP/sherpa-onnx --data-dir DATA --out OUT [--int8]
    python scripts/sherpa_decode.py --export EXP/sherpa-onnx a.wav b.wav

Writes OUT/hyp (``utt text``, as 'asr decode' does), OUT/tokens (the token symbols per
utterance) and OUT/times (sherpa-onnx's time of each token, seconds), or prints ``path
text`` per file; then the decode's real-time factor. Offline, streams go to sherpa-onnx
in batches (--batch), which it pads: the exported graph masks padding. Streaming, each
utterance goes in 100 ms pieces, decoded as its chunks fill, then the export's tail
padding (sherpa-onnx decodes whole chunks only).
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
    """sherpa-onnx's OfflineRecognizer or OnlineRecognizer as sherpa_onnx.json describes
    it; (recognizer, the config)."""
    import sherpa_onnx

    cfg = json.loads((export / "sherpa_onnx.json").read_text())
    model = str(export / cfg["models"]["int8" if int8 else "float"])
    feat = sherpa_onnx.FeatureExtractorConfig(**cfg["feat_config"])
    tokens = str(export / cfg["tokens"])
    if cfg["recognizer"] == "OnlineRecognizer":
        from sherpa_onnx.lib import _sherpa_onnx as lib

        cls, _Recognizer = sherpa_onnx.OnlineRecognizer, lib.OnlineRecognizer
        config = lib.OnlineRecognizerConfig(
            feat_config=feat, decoding_method=cfg["decoding_method"], enable_endpoint=False,
            model_config=lib.OnlineModelConfig(
                wenet_ctc=lib.OnlineWenetCtcModelConfig(
                    model=model, chunk_size=cfg["chunk_size"],
                    num_left_chunks=cfg["num_left_chunks"]),
                tokens=tokens, num_threads=threads))
    else:
        from sherpa_onnx.lib._sherpa_onnx import OfflineRecognizer as _Recognizer

        cls = sherpa_onnx.OfflineRecognizer
        config = sherpa_onnx.OfflineRecognizerConfig(
            feat_config=feat, decoding_method=cfg["decoding_method"],
            model_config=sherpa_onnx.OfflineModelConfig(
                zipformer_ctc=sherpa_onnx.OfflineZipformerCtcModelConfig(model=model),
                tokens=tokens, num_threads=threads))
    # the Python classes' from_* constructors fix the feature settings; the full config
    # goes to the compiled recognizer under it, as those constructors do themselves
    recognizer = cls.__new__(cls)
    recognizer.recognizer, recognizer.config = _Recognizer(config), config
    return recognizer, cfg


def decode_offline(recognizer, rate: int, pieces: list[np.ndarray]) -> list:
    """One batch of utterances (float32 samples in [-1, 1]) -> their results."""
    streams = []
    for samples in pieces:
        s = recognizer.create_stream()
        s.accept_waveform(rate, samples)
        streams.append(s)
    recognizer.decode_streams(streams)
    return [s.result for s in streams]


def decode_online(recognizer, rate: int, samples: np.ndarray, tail_s: float,
                  piece_s: float = 0.1):
    """One utterance fed as a microphone would (``piece_s`` pieces, decoding whatever
    chunks are ready), then ``tail_s`` of zeros and input_finished -> its result."""
    stream = recognizer.create_stream()
    step = max(1, int(piece_s * rate))
    for start in range(0, samples.size, step):
        stream.accept_waveform(rate, samples[start:start + step])
        while recognizer.is_ready(stream):
            recognizer.decode_stream(stream)
    stream.accept_waveform(rate, np.zeros(int(tail_s * rate), dtype=np.float32))
    stream.input_finished()
    while recognizer.is_ready(stream):
        recognizer.decode_stream(stream)
    return recognizer.recognizer.get_result(stream)


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

    recognizer, cfg = recognizer_from_json(args.export, args.int8, args.threads)
    rate = cfg["feat_config"]["sampling_rate"]
    online = cfg["recognizer"] == "OnlineRecognizer"
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
    texts, tokens, times, seconds, t0 = {}, {}, {}, 0.0, time.perf_counter()
    for start in range(0, len(utts), args.batch):
        batch = utts[start:start + args.batch]
        pieces = []
        for u in batch:
            samples, file_rate = audio(u)
            if file_rate != rate:
                sys.exit(f"{u}: {file_rate} Hz audio, the model is for {rate} Hz")
            seconds += samples.numel() / file_rate
            pieces.append((samples.numpy() / 32768.0).astype(np.float32))
        results = [decode_online(recognizer, rate, x, cfg["tail_padding_s"]) for x in pieces] \
            if online else decode_offline(recognizer, rate, pieces)
        for u, r in zip(batch, results, strict=True):
            texts[u] = " ".join(r.text.split())
            tokens[u] = " ".join(r.tokens)
            times[u] = " ".join(f"{t:.2f}" for t in r.timestamps)
    elapsed = time.perf_counter() - t0
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        write_kv(args.out / "hyp", texts)
        write_kv(args.out / "tokens", tokens)
        write_kv(args.out / "times", times)
    else:
        for u in utts:
            print(u, texts[u])
    print(f"sherpa-onnx decoded {len(utts)} utterances, {seconds:.1f} s of audio in "
          f"{elapsed:.2f} s: RTF {elapsed / max(seconds, 1e-9):.4f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
