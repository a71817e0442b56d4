"""'asr export --format sherpa-onnx' gives a dir that sherpa-onnx itself (its PyPI wheel,
in a subprocess: its errors end the process) decodes to the tokens our greedy decode
gives, for a Conformer (torch.export) and a BiLSTM (the TorchScript exporter), with
global, per-utterance and online CMVN in the graph, float and int8, in batches it pads; exps it
cannot run are refused with the fix."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import soundfile
from test_streaming_recognizer import streaming_exp, wavs

from asr.cli import main
from asr.config import save_config
from asr.config.model_schema import BiLSTMConfig, Conv2dFrontendConfig, ModelConfig
from asr.config.schema import DataConfig, ExperimentConfig
from asr.data.features import audio_fbank
from asr.data.kaldi_dir import read_kv
from asr.exp.experiment import Experiment
from asr.exp.layout import CONFIG

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
BILSTM = ModelConfig(frontend=Conv2dFrontendConfig(channels=8, output_dim=32),
                     encoder=BiLSTMConfig(num_layers=2, hidden_size=16))


def sherpa_decode(export: Path, data: Path, out: Path, *extra: str) -> dict[str, str]:
    run = subprocess.run([sys.executable, str(REPO / "scripts/sherpa_decode.py"), "--export",
                          str(export), "--data-dir", str(data), "--out", str(out), *extra],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "RTF" in run.stderr
    return read_kv(out / "hyp", allow_empty=True)


@pytest.mark.parametrize(("model", "cmvn"), [("conformer", "global"), ("bilstm", "global"),
                                           ("bilstm", "utterance"), ("conformer", "online"),
                                           ("bilstm", "online")])
def test_sherpa_onnx_decodes_the_export_as_we_do(tmp_path, model, cmvn):
    exp, data = streaming_exp(tmp_path, **({"model": BILSTM} if model == "bilstm" else {}),
                              data_cfg=DataConfig(cmvn=cmvn))
    export = tmp_path / "sherpa"
    assert main(["export", "--exp-dir", str(exp), "--format", "sherpa-onnx", "--out",
                 str(export), "--quantize", "int8"]) == 0
    assert main(["decode", "--exp-dir", str(exp), "--data-dir", str(data), "--out",
                 str(tmp_path / "ours")]) == 0
    ours = read_kv(tmp_path / "ours/hyp", allow_empty=True)
    assert any(ours.values())  # an untrained model, but not all blank: tokens to compare
    assert sherpa_decode(export, data, tmp_path / "float") == ours
    assert sherpa_decode(export, data, tmp_path / "one", "--batch", "1") == ours
    int8 = sherpa_decode(export, data, tmp_path / "int8", "--int8")
    assert int8.keys() == ours.keys()
    cfg = json.loads((export / "sherpa_onnx.json").read_text())
    assert cfg["feat_config"]["normalize_samples"] is False and cfg["models"] == {
        "float": "model.onnx", "int8": "model.int8.onnx"}
    tokens = (export / "tokens.txt").read_text().splitlines()
    assert tokens[0] == "<blk> 0" and any(t.startswith("\u2581 ") for t in tokens)
    meta = {p.key: p.value for p in onnx.load(str(export / "model.onnx")).metadata_props}
    assert meta["model_type"] == "zipformer2_ctc"
    assert (export / "model.int8.onnx").stat().st_size < (export / "model.onnx").stat().st_size


def test_normalize_samples_export_takes_samples_in_unit_range(tmp_path, capsys):
    """--normalize-samples: sherpa-onnx fed [-1, 1] samples (its default), the graph shifts
    the features back to our int16 scale; digital silence stays silence."""
    exp, data = streaming_exp(tmp_path)
    export = tmp_path / "sherpa"
    assert main(["export", "--exp-dir", str(exp), "--format", "sherpa-onnx", "--out",
                 str(export), "--normalize-samples"]) == 0
    assert main(["decode", "--exp-dir", str(exp), "--data-dir", str(data), "--out",
                 str(tmp_path / "ours")]) == 0
    ours = read_kv(tmp_path / "ours/hyp", allow_empty=True)
    assert any(ours.values())
    cfg = json.loads((export / "sherpa_onnx.json").read_text())
    assert cfg["feat_config"]["normalize_samples"] is True
    assert sherpa_decode(export, data, tmp_path / "float") == ours
    zeros = tmp_path / "zeros.wav"  # every energy floored: the features of int16 zeros
    soundfile.write(zeros, np.zeros(16000, dtype=np.int16), 8000)
    run = subprocess.run([sys.executable, str(REPO / "scripts/sherpa_decode.py"), "--export",
                          str(export), str(zeros)], capture_output=True, text=True, timeout=300)
    capsys.readouterr()
    assert main(["transcribe", "--exp-dir", str(exp), str(zeros)]) == 0
    assert run.returncode == 0 and run.stdout == capsys.readouterr().out
    assert main(["export", "--exp-dir", str(exp), "--format", "onnx",
                 "--normalize-samples"]) == 2
    assert "--normalize-samples is for --format sherpa-onnx" in capsys.readouterr().err


def test_per_speaker_cmvn_is_refused_with_the_fix(tmp_path, capsys):
    exp, _ = streaming_exp(tmp_path, model=BILSTM)
    save_config(ExperimentConfig(model=BILSTM, data=DataConfig(cmvn="speaker")), exp / CONFIG)
    assert main(["export", "--exp-dir", str(exp), "--format", "sherpa-onnx"]) == 2
    assert "data.cmvn is 'speaker'" in capsys.readouterr().err
    assert not (exp / "sherpa-onnx").exists()
    assert main(["export", "--exp-dir", str(exp), "--format", "torchscript", "--quantize",
                 "int8"]) == 2
    assert "--quantize int8 is for" in capsys.readouterr().err


@pytest.mark.parametrize("norm_vars", [True, False])
def test_graph_cmvn_is_ours_on_padded_batches(norm_vars):
    """The CMVN folded into the graph, on a padded batch, gives each utterance what our
    own CMVN gives it alone: per-utterance, and online with a window shorter than the
    utterances (so it slides) and a prior that tops up the first frames."""
    import numpy as np
    import torch

    from asr.data.cmvn import OnlineCmvn, UtteranceCmvn
    from asr.decode.export_sherpa import OnlineNorm, UtteranceNorm

    g = torch.Generator().manual_seed(0)
    floor = torch.full((6,), -1.0)
    lens = [40, 17, 3]
    xs = [torch.randn(t, 6, generator=g) * 2 + 1 for t in lens]
    xs[1][5:9] = -3.0  # silent frames: under the floor's margin, not counted
    batch = torch.nn.utils.rnn.pad_sequence(xs, batch_first=True, padding_value=-23.0)
    stats = np.zeros((2, 7))
    stats[0, :6], stats[1, :6], stats[0, 6] = 50.0, 400.0, 100.0
    online = OnlineCmvn(stats, window=7, prior_frames=5, norm_vars=norm_vars,
                        floor=floor.numpy())
    utterance = UtteranceCmvn(norm_vars, floor=floor.numpy())
    for ours, graph in ((online, OnlineNorm(online)),
                        (utterance, UtteranceNorm(floor, norm_vars))):
        out = graph(batch, torch.tensor(lens))
        for i, x in enumerate(xs):
            torch.testing.assert_close(out[i, :lens[i]], ours(x), atol=1e-4, rtol=1e-4)


def sherpa_tokens_within(out: Path, frames: dict[str, int], frame_s: float
                         ) -> dict[str, list[str]]:
    """sherpa-onnx's tokens (OUT/tokens, OUT/times) on each utterance's first ``frames``
    output frames of ``frame_s`` seconds: those our decode has too (sherpa-onnx's stream
    goes on into the tail padding that completes its last chunk)."""
    tokens, times = read_kv(out / "tokens", allow_empty=True), read_kv(out / "times",
                                                                      allow_empty=True)
    return {u: [t for t, s in zip(tokens[u].split(), times[u].split(), strict=True)
                if round(float(s) / frame_s) < frames[u]] for u in tokens}


@pytest.mark.parametrize("cmvn", ["global", "online"])
def test_sherpa_onnx_streams_the_export_as_we_do(tmp_path, cmvn):
    """sherpa-onnx's OnlineRecognizer on the WeNet-contract export, fed 100 ms pieces,
    gives on the frames both have the tokens of 'asr decode --streaming' at the same chunk
    size; online CMVN's window (shorter than the utterances here, so it slides) rides in
    the att_cache. Beyond them come the frames that read the tail padding (zeros that
    complete the last chunk), where an untrained model says anything: left out."""
    exp, data = streaming_exp(tmp_path, data_cfg=DataConfig(cmvn=cmvn, cmvn_window=50,
                                                            cmvn_prior_frames=20))
    export = tmp_path / "sherpa"
    assert main(["export", "--exp-dir", str(exp), "--format", "sherpa-onnx", "--streaming",
                 "--chunk-ms", "160", "--out", str(export), "--quantize", "int8"]) == 0
    assert main(["decode", "--exp-dir", str(exp), "--data-dir", str(data), "--out",
                 str(tmp_path / "ours"), "--streaming", "--chunk-ms", "160", "--json"]) == 0
    ours = {json.loads(line)["utt"]: json.loads(line)
            for line in (tmp_path / "ours/hyp.jsonl").read_text().splitlines()}
    assert any(h["text"] for h in ours.values())
    loaded = Experiment.load(exp)
    field, stride = loaded.load_model().frontend.time_window()
    frames = {u: (audio_fbank(str(w), u, loaded.feats)[0].shape[0] - field) // stride + 1
              for u, w in wavs(data).items()}
    sherpa_decode(export, data, tmp_path / "float")
    assert sherpa_tokens_within(tmp_path / "float", frames, 0.04) == {
        u: [t["token"] for t in h["tokens"]] for u, h in ours.items()}
    assert sherpa_decode(export, data, tmp_path / "int8", "--int8").keys() == ours.keys()
    cfg = json.loads((export / "sherpa_onnx.json").read_text())
    # fed the same tail padding, ours decodes what sherpa-onnx decodes, to the end
    assert main(["decode", "--exp-dir", str(exp), "--data-dir", str(data), "--out",
                 str(tmp_path / "padded"), "--streaming", "--chunk-ms", "160",
                 "--tail-padding-ms", str(1000 * cfg["tail_padding_s"])]) == 0
    padded = read_kv(tmp_path / "padded/hyp", allow_empty=True)
    assert any(padded.values()) and padded == read_kv(tmp_path / "float/hyp", allow_empty=True)
    assert cfg["recognizer"] == "OnlineRecognizer" and cfg["chunk_size"] == 4
    assert cfg["num_left_chunks"] == 2  # the trained encoder.chunk.left_chunks
    meta = {p.key: p.value for p in onnx.load(str(export / "model.onnx")).metadata_props}
    # 2 Conformer blocks; online CMVN's 50 frames ride in more
    assert (int(meta["num_blocks"]) > 2) == (cmvn == "online") and meta["right_context"] == "6"
    assert "wenet_ctc" in (export / "README.md").read_text()
    # digital silence (our fbank keeps only 20 frames of a run): blank frames, no text
    soundfile.write(tmp_path / "zeros.wav", np.zeros(16000, dtype=np.int16), 8000)
    run = subprocess.run([sys.executable, str(REPO / "scripts/sherpa_decode.py"), "--export",
                          str(export), str(tmp_path / "zeros.wav")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.split() == [str(tmp_path / "zeros.wav")]


def test_streaming_export_refuses_what_cannot_stream(tmp_path, capsys):
    exp, _ = streaming_exp(tmp_path, data_cfg=DataConfig(cmvn="utterance"))
    assert main(["export", "--exp-dir", str(exp), "--format", "sherpa-onnx",
                 "--streaming"]) == 2
    assert "data.cmvn is 'utterance', which needs audio that has not arrived" in \
        capsys.readouterr().err
    exp, _ = streaming_exp(tmp_path / "bilstm", model=BILSTM)
    assert main(["export", "--exp-dir", str(exp), "--format", "sherpa-onnx",
                 "--streaming"]) == 2
    assert "WeNet's chunked-Conformer contract" in capsys.readouterr().err
