"""README.md of a sherpa-onnx export: the Python and C++ calls that run it, from the export's
sherpa_onnx.json (offline: ``OfflineRecognizer`` on a zipformer_ctc model; streaming:
``OnlineRecognizer`` on a wenet_ctc model)."""

from __future__ import annotations


def readme(config: dict) -> str:
    """How to run the export described by ``config`` (sherpa_onnx.json's content)."""
    feat = config["feat_config"]
    feat_args = ", ".join(f"{k}={v!r}" for k, v in feat.items())
    models = config["models"]
    files = f"`{models['float']}` (float" + (f"; `{models['int8']}`, int8 weights"
                                             if "int8" in models else "") + ")"
    streaming = config["recognizer"] == "OnlineRecognizer"
    body = _online(config, feat_args) if streaming else _offline(config, feat_args)
    return f"""# sherpa-onnx {'streaming' if streaming else 'offline'} CTC model

Exported by `asr export --format sherpa-onnx{' --streaming' if streaming else ''}` from
`{config['exp_dir']}`: {files}, `{config['tokens']}`, and `sherpa_onnx.json` (everything
below, as data: `scripts/sherpa_decode.py` builds the recognizer from it alone).
{body}
The features must be sherpa-onnx's Kaldi fbank with these settings
(`FeatureExtractorConfig`): {feat_args}. The C++ binaries' defaults differ for `low_freq`,
`high_freq`, `normalize_samples` and `snip_edges`: set them in code, as above.
"""


def _offline(config: dict, feat_args: str) -> str:
    model, tokens, feat = config["models"]["float"], config["tokens"], config["feat_config"]
    return f"""
## Python (`pip install sherpa-onnx`)

```python
import sherpa_onnx, soundfile
from sherpa_onnx.lib._sherpa_onnx import OfflineRecognizer as _Recognizer

config = sherpa_onnx.OfflineRecognizerConfig(
    feat_config=sherpa_onnx.FeatureExtractorConfig({feat_args}),
    model_config=sherpa_onnx.OfflineModelConfig(
        zipformer_ctc=sherpa_onnx.OfflineZipformerCtcModelConfig(model="{model}"),
        tokens="{tokens}", num_threads=1),
    decoding_method="greedy_search")
# OfflineRecognizer's from_* constructors fix the feature settings: give the full config
# to the compiled recognizer under it, as those constructors do
recognizer = sherpa_onnx.OfflineRecognizer.__new__(sherpa_onnx.OfflineRecognizer)
recognizer.recognizer, recognizer.config = _Recognizer(config), config
samples, rate = soundfile.read("test.wav", dtype="float32")
stream = recognizer.create_stream()
stream.accept_waveform(rate, samples)
recognizer.decode_stream(stream)
print(stream.result.text)
```

## C++ (sherpa-onnx's `sherpa-onnx-offline`)

```
sherpa-onnx-offline --zipformer-ctc-model={model} --tokens={tokens} \\
  --sample-rate={feat['sampling_rate']} --feat-dim={feat['feature_dim']} test.wav
```
"""


def _online(config: dict, feat_args: str) -> str:
    model, tokens, feat = config["models"]["float"], config["tokens"], config["feat_config"]
    chunk, left = config["chunk_size"], config["num_left_chunks"]
    return f"""
A chunk is {chunk} encoder frames ({config['chunk_ms']:g} ms) with {left} chunks of left
context: `chunk_size` and `num_left_chunks` must be these (the model's cache shapes
are fixed at export). sherpa-onnx decodes whole chunks only: end a stream with
{config['tail_padding_s']:g} s of zeros (`tail_padding_s`) before `input_finished()`, or
its last words wait for audio that never comes. `asr decode --streaming --chunk-ms
{config['chunk_ms']:g} --tail-padding-ms {1000 * config['tail_padding_s']:g}` decodes a data dir
feeding each utterance as this app does.

## Python (`pip install sherpa-onnx`)

```python
import numpy as np, sherpa_onnx, soundfile
from sherpa_onnx.lib import _sherpa_onnx as lib

config = lib.OnlineRecognizerConfig(
    feat_config=lib.FeatureExtractorConfig({feat_args}),
    model_config=lib.OnlineModelConfig(
        wenet_ctc=lib.OnlineWenetCtcModelConfig(
            model="{model}", chunk_size={chunk}, num_left_chunks={left}),
        tokens="{tokens}", num_threads=1),
    decoding_method="greedy_search", enable_endpoint=False)
recognizer = sherpa_onnx.OnlineRecognizer.__new__(sherpa_onnx.OnlineRecognizer)
recognizer.recognizer, recognizer.config = lib.OnlineRecognizer(config), config
samples, rate = soundfile.read("test.wav", dtype="float32")
stream = recognizer.create_stream()
for start in range(0, len(samples), rate // 10):  # 100 ms pieces, as a microphone gives
    stream.accept_waveform(rate, samples[start:start + rate // 10])
    while recognizer.is_ready(stream):
        recognizer.decode_stream(stream)
    print(recognizer.get_result(stream))
stream.accept_waveform(rate, np.zeros(int({config['tail_padding_s']} * rate), np.float32))
stream.input_finished()
while recognizer.is_ready(stream):
    recognizer.decode_stream(stream)
print(recognizer.get_result(stream))
```

## C++ (sherpa-onnx's `sherpa-onnx`)

```
sherpa-onnx --wenet-ctc-model={model} --wenet-ctc-chunk-size={chunk} \\
  --wenet-ctc-num-left-chunks={left} --tokens={tokens} \\
  --sample-rate={feat['sampling_rate']} --feat-dim={feat['feature_dim']} test.wav
```
"""
