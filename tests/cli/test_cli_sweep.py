"""Every subcommand, given missing or wrong inputs, ends with exit code 2 and one line
``asr CMD: error: ...`` naming the offending input: never a traceback.

CASES has an entry for every command in asr.cli.COMMANDS, so a new command fails this
test until its bad inputs are swept too. Each case runs ``asr.cli.main`` in this process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile

from asr.cli import COMMANDS, main
from asr.config.schema import FbankConfig
from asr.data.ark import write_ark_scp
from asr.data.copy_dirs import copy_data_dir
from asr.data.kaldi_dir import read_kv, write_kv
from asr.testing import make_data_dir, make_exp_dir

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|WARNING) ")
PROGRESS = re.compile(r"\d+/\d+ \[")  # a tqdm bar, drawn before the failing item
GARBAGE = b"\x80" + bytes(range(256)) * 4  # not UTF-8, YAML, audio, a model or a manifest


@dataclass(frozen=True)
class Case:
    """``asr CMD *args`` must fail naming ``expect``; ``usage``: argparse rejects it."""

    args: tuple[str, ...]
    expect: str
    usage: bool = False


def c(*args: str, expect: str, usage: bool = False) -> Case:
    return Case(args, expect, usage)


# {name} is a path of the world below; each expect names the offending input
CASES: dict[str, list[Case]] = {
    "fbank": [
        c("{missing}", expect="data dir not found: {missing}"),
        c("{empty}", expect="{empty}: has neither wav.scp nor feats.scp"),
        c("{badwav}", "--set", "sample_rate=8000", expect="cannot read audio '{garbage_wav}'"),
        c("--config", "{missing}/fbank.yaml", "{wavs}", expect="{missing}/fbank.yaml"),
        c("--config", "{garbage}", "{wavs}", expect="{garbage}"),
        c("--nj", "0", "{wavs}", "--set", "sample_rate=8000", expect="--nj must be >= 1"),
        c("--nj", "two", "{wavs}", expect="invalid int value: 'two'", usage=True),
        c("--feats-dir", "{garbage}/x", "{wavs}", "--set", "sample_rate=8000", expect="{garbage}"),
    ],
    "speed-perturb": [
        c("{missing}", "{out}", expect="data dir not found: {missing}"),
        c("{empty}", "{out}", expect="{empty}: has neither wav.scp nor feats.scp"),
        c("--factors", "0.9", "{badwav}", "{out}", expect="cannot read audio '{garbage_wav}'"),
        c("--factors", "fast", "{wavs}", "{out}", expect="--factors: expected numbers"),
        c("{wavs}", "{garbage}/x", expect="{garbage}"),
    ],
    "augment-data": [
        c("{missing}", "{out}", "--noise-dir", "{noise}", expect="data dir not found: {missing}"),
        c("{wavs}", "{out}", expect="nothing to do: give --noise-dir"),
        c("{wavs}", "{out}", "--noise-dir", "{missing}", expect="noise source not found: "
                                                                "{missing}"),
        c("{wavs}", "{out}", "--noise-dir", "{empty}", expect="noise source {empty}: no audio"),
        c("{wavs}", "{out}", "--noise-dir", "{noise}", "--snr", "20:0",
          expect="--snr: snr_db: [20, 0] is upside down"),
        c("{wavs}", "{out}", "--noise-dir", "{noise}", "--snr", "loud",
          expect="--snr: expected LOW:HIGH"),
        c("{wavs}", "{out}", "--noise-dir", "{noise16k}",
          expect="noise '{noise16k}/n.wav' is 16000 Hz"),
        c("{wavs}", "{out}", "--rir-dir", "{longrir}", expect="RIR '{longrir}/n.wav' is 3.00 s"),
        c("{wavs}", "{out}", "--rir-dir", "{zerorir}",
          expect="RIR '{zerorir}/n.wav' has zero energy"),
        c("{wavs}", "{out}", "--tempo", "0:1", expect="--tempo: factor: [0, 1] must be > 0"),
        c("{badwav}", "{out}", "--noise-dir", "{noise}", expect="cannot read audio "
                                                                "'{garbage_wav}'"),
        c("{wavs}", "{garbage}/x", "--noise-dir", "{noise}", expect="{garbage}"),
    ],
    "make-rirs": [
        c("{out}", "--num", "0", expect="--num and --sample-rate must be >= 1"),
        c("{out}", "--rt60", "0.8:0.2", expect="--rt60 0.8:0.2: expected 0 < low <= high"),
        c("{out}", "--rt60", "long", expect="--rt60: expected LOW:HIGH"),
        c("{out}", "--num", "many", expect="invalid int value: 'many'", usage=True),
        c("{garbage}/x", "--num", "1", expect="{garbage}"),
    ],
    "cmvn": [
        c("{missing}", expect="data dir not found: {missing}"),
        c("{empty}", expect="{empty}: has neither wav.scp nor feats.scp"),
        c("{wavs}", expect="{wavs}: feats.scp is required here but missing"),
        c("--per-speaker", "{truncated}", expect="'{truncated_ark}:"),
        c("{feats}", "{wavs}", "--out", "{out}", expect="--out takes a single DATA_DIR"),
        c("{feats}", "--out", "{garbage}/x", expect="{garbage}"),
    ],
    "tokenizer": [
        c("--text", "{missing}/text", "--out", "{out}", expect="{missing}/text: file not found"),
        c("--text", "{garbage}", "--out", "{out}", expect="{garbage}:1: not valid UTF-8"),
        c("--text", "{empty_file}", "--out", "{out}", expect="{empty_file}: no transcripts"),
        c("--text", "{wavs}/text", "--out", "{out}", "--token-type", "bpe",
          expect="--vocab-size must be > 2"),
        c("--text", "{wavs}/text", "--out", "{garbage}/x", expect="{garbage}"),
    ],
    "train": [
        c("--config", "{missing}/c.yaml", "--exp-dir", "{out}", "--train-dir", "{feats}",
          "--dev-dir", "{feats}", "--lang-dir", "{lang}", expect="{missing}/c.yaml"),
        c("--config", "{garbage}", "--exp-dir", "{out}", "--train-dir", "{feats}",
          "--dev-dir", "{feats}", "--lang-dir", "{lang}", expect="{garbage}"),
        c("--config", "{config}", "--exp-dir", "{out}", "--train-dir", "{feats}",
          "--dev-dir", "{feats}", "--lang-dir", "{lang}", "optim.learning_rate=1",
          expect="unknown key 'optim.learning_rate'"),
        c("--config", "{config}", "--exp-dir", "{out}", "--train-dir", "{missing}",
          "--dev-dir", "{feats}", "--lang-dir", "{lang}", expect="data dir not found: {missing}"),
        c("--config", "{config}", "--exp-dir", "{out}", "--train-dir", "{wavs}",
          "--dev-dir", "{feats}", "--lang-dir", "{lang}",
          expect="{wavs}/feats.yaml: missing, so the features of {wavs} are unknown; run "
                 "'asr fbank {wavs}'"),
        c("--config", "{config}", "--exp-dir", "{out}", "--train-dir", "{feats}",
          "--dev-dir", "{missing}", "--lang-dir", "{lang}", expect="{missing}"),
        c("--config", "{config}", "--exp-dir", "{out}", "--train-dir", "{feats}",
          "--dev-dir", "{feats}", "--lang-dir", "{missing}", expect="tokens.txt"),
        c("--config", "{config}", "--exp-dir", "{out}", "--train-dir", "{feats}",
          "--dev-dir", "{feats}", "--lang-dir", "{badlang}",
          expect="{badlang}/tokens.txt: not a token list"),
        c("--config", "{config}", "--exp-dir", "{out}", "--train-dir", "{feats}",
          "--dev-dir", "{feats}", "--lang-dir", "{badsp}",
          expect="{badsp}/sp.model: not a sentencepiece model"),
        c("--config", "{config}", "--exp-dir", "{garbage}/x", "--train-dir", "{feats}",
          "--dev-dir", "{feats}", "--lang-dir", "{lang}", expect="{garbage}"),
    ],
    "average": [
        c("--exp-dir", "{missing}", "--last", "2", expect="{missing}/checkpoints"),
        c("--exp-dir", "{bad_ckpt_exp}", "--last", "1", expect="epoch-1.pt"),
        c("--exp-dir", "{exp}", "--last", "x", expect="invalid int value: 'x'", usage=True),
        c("--exp-dir", "{exp}", "--last", "0", expect="one of the arguments --last --best is "
          "required", usage=True),  # argparse: 0 is the default, so not given
        c("--exp-dir", "{bad_ckpt_exp}", "--best", "1", expect="{bad_ckpt_exp}/checkpoints"),
    ],
    "decode": [
        c("--exp-dir", "{missing}", "--data-dir", "{wavs}", "--out", "{out}",
          expect="{missing}: not an experiment dir"),
        c("--exp-dir", "{empty}", "--data-dir", "{wavs}", "--out", "{out}",
          expect="{empty}: not an experiment dir"),
        c("--exp-dir", "{exp}", "--data-dir", "{missing}", "--out", "{out}",
          expect="data dir not found: {missing}"),
        c("--exp-dir", "{exp}", "--data-dir", "{empty}", "--out", "{out}",
          expect="{empty}: has neither wav.scp nor feats.scp"),
        c("--exp-dir", "{exp}", "--data-dir", "{badwav}", "--out", "{out}",
          expect="cannot read audio '{garbage_wav}'"),
        c("--exp-dir", "{exp}", "--data-dir", "{wavs}", "--out", "{out}", "--checkpoint",
          "{missing}/x.pt", expect="checkpoint '{missing}/x.pt' not found"),
        c("--exp-dir", "{exp}", "--data-dir", "{wavs}", "--out", "{out}", "--checkpoint",
          "{garbage}", expect="{garbage}"),
        c("--exp-dir", "{exp}", "--data-dir", "{wavs}", "--out", "{out}", "--streaming",
          expect="{exp}: not a streaming experiment"),
        c("--exp-dir", "{stream_exp}", "--data-dir", "{wavs}", "--out", "{out}", "--streaming",
          "--chunk-ms", "200", expect="the model streams chunks of 160, 320 ms"),
        c("--exp-dir", "{stream_exp}", "--data-dir", "{wavs}", "--out", "{out}", "--chunk-ms",
          "160", expect="--chunk-ms needs --streaming"),
        c("--exp-dir", "{stream_exp}", "--data-dir", "{wavs}", "--out", "{out}",
          "--tail-padding-ms", "700", expect="--tail-padding-ms needs --streaming"),
        c("--exp-dir", "{stream_exp}", "--data-dir", "{wavs}", "--out", "{out}", "--streaming",
          "--tail-padding-ms", "-5", expect="tail padding must be >= 0 ms, got -5"),
        c("--exp-dir", "{stream_exp}", "--data-dir", "{wavs}", "--out", "{out}", "--streaming",
          "--chunk-ms", "fast", expect="invalid float value: 'fast'", usage=True),
        c("--exp-dir", "{stream_exp}", "--data-dir", "{wavs}", "--out", "{out}", "--streaming",
          "--method", "vocabulary", "--vocabulary", "{wavs}/text",
          expect="--method vocabulary does not stream"),
        c("--exp-dir", "{exp}", "--data-dir", "{wavs}", "--out", "{out}", "--method",
          "prefix_beam", "--lm", "{missing}/lm.arpa", expect="{missing}/lm.arpa"),
        c("--exp-dir", "{exp}", "--data-dir", "{wavs}", "--out", "{out}", "--method",
          "prefix_beam", "--lm", "{garbage}", expect="{garbage}"),
        c("--exp-dir", "{exp}", "--data-dir", "{wavs}", "--out", "{out}", "--method",
          "prefix_beam", "--beam", "0", expect="--beam and --token-topk must be >= 1"),
        c("--exp-dir", "{exp}", "--data-dir", "{wavs}", "--out", "{out}", "--method",
          "prefix_beam", "--lm", "{truncated_lm}", expect="{truncated_lm}: truncated compiled LM"),
        c("--exp-dir", "{exp}", "--data-dir", "{wavs}", "--out", "{out}", "--method",
          "prefix_beam", "--search-threads", "-1", expect="--search-threads must be >= 1"),
        c("--exp-dir", "{exp}", "--data-dir", "{wavs}", "--out", "{out}", "--device", "cuda9",
          expect="device 'cuda9'"),
        c("--exp-dir", "{exp}", "--data-dir", "{wavs}", "--out", "{garbage}/x", expect="{garbage}"),
        c("--exp-dir", "{exp}", "--data-dir", "{wavs}", "--out", "{out}", "--method",
          "prefix_beam", "--beam", "4", "--nbest", "5", expect="--nbest must be in [1, --beam 4]"),
        c("--exp-dir", "{exp}", "--data-dir", "{wavs}", "--out", "{out}", "--ctm",
          "--confidence", "sure", expect="invalid choice: 'sure'", usage=True),
        c("--exp-dir", "{exp}", "--data-dir", "{wavs}", "--out", "{out}", "--hotwords",
          "{wavs}/text", expect="--hotwords needs --method prefix_beam"),
        c("--exp-dir", "{exp}", "--data-dir", "{wavs}", "--out", "{out}", "--method",
          "prefix_beam", "--hotwords", "{missing}/hot.txt",
          expect="{missing}/hot.txt: hotword file not found"),
        c("--exp-dir", "{exp}", "--data-dir", "{wavs}", "--out", "{out}", "--method",
          "prefix_beam", "--hotwords", "{garbage}", expect="{garbage}: not a hotword file"),
        c("--exp-dir", "{exp}", "--data-dir", "{wavs}", "--out", "{out}", "--method",
          "prefix_beam", "--hotwords", "{empty_file}", expect="{empty_file}: no hotwords"),
    ],
    "align": [
        c("--exp-dir", "{missing}", "--data-dir", "{wavs}", "--out", "{out}",
          expect="{missing}: not an experiment dir"),
        c("--exp-dir", "{exp}", "--data-dir", "{missing}", "--out", "{out}",
          expect="{missing}"),
        c("--exp-dir", "{exp}", "--data-dir", "{notext}", "--out", "{out}",
          expect="{notext}: no text to align"),
        c("--exp-dir", "{exp}", "--data-dir", "{badwav}", "--out", "{out}",
          expect="cannot read audio '{garbage_wav}'"),
        c("--exp-dir", "{exp}", "--data-dir", "{wavs}", "--out", "{garbage}/x", expect="{garbage}"),
        c("--exp-dir", "{exp}", "--data-dir", "{wavs}", "--out", "{out}", "--threshold", "low",
          expect="invalid float value: 'low'", usage=True),
    ],
    "score-ctm": [
        c("{missing}/ctm", "--ref", "{wavs_ctm}", expect="{missing}/ctm: CTM file not found"),
        c("{garbage}", "--ref", "{wavs_ctm}", expect="{garbage}: not a CTM file"),
        c("{wavs}/text", "--ref", "{wavs_ctm}", expect="{wavs}/text:1: not a CTM line"),
        c("{wavs_ctm}", expect="nothing to score: give --ref"),
        c("{wavs_ctm}", "--text", "{missing}/text", expect="{missing}/text: file not found"),
        c("{wavs_ctm}", "--text", "{wavs}/text",
          expect="word 'ONE' has no confidence"),
    ],
    "transcribe": [
        c("--exp-dir", "{missing}", "{wav}", expect="{missing}: not an experiment dir"),
        c("--exp-dir", "{exp}", "--nbest", "2", "{wav}",
          expect="--nbest needs --method prefix_beam"),
        c("--exp-dir", "{exp}", "{missing}/a.wav", expect="'{missing}/a.wav'"),
        c("--exp-dir", "{exp}", "{garbage_wav}", expect="'{garbage_wav}'"),
        c("--exp-dir", "{exp}", "{wavs}", expect="'{wavs}'"),
        c("--exp-dir", "{exp}", "--streaming", "{wav}", expect="{exp}: not a streaming "
          "experiment"),
        c("--exp-dir", "{stream_exp}", "--streaming", "{noise16k}/n.wav",
          expect="{noise16k}/n.wav: audio at 16000 Hz, but {stream_exp} expects 8000 Hz"),
        c("--exp-dir", "{stream_exp}", "--streaming", "--chunk-ms", "300", "{wav}",
          expect="--chunk-ms 300 is 7.5 encoder frames of 40 ms"),
        c("--exp-dir", "{stream_exp}", "--streaming", "{missing}/a.wav",
          expect="'{missing}/a.wav'"),
    ],
    "score": [
        c("{missing}/ref", "{wavs}/text", expect="{missing}/ref: file not found"),
        c("{wavs}/text", "{missing}/hyp", expect="{missing}/hyp: file not found"),
        c("{garbage}", "{wavs}/text", expect="{garbage}:1: not valid UTF-8"),
        c("{wavs}/text", "{wavs}/text", "--utt2spk", "{missing}/u",
          expect="{missing}/u: file not found"),
        c("{wavs}/text", "{wavs}/text", "--out", "{garbage}/x", expect="{garbage}"),
    ],
    "export": [
        c("--exp-dir", "{missing}", "--format", "torchscript",
          expect="{missing}: not an experiment dir"),
        c("--exp-dir", "{exp}", "--format", "torchscript", "--checkpoint", "{missing}/x.pt",
          "--out", "{out}/m.pt", expect="checkpoint '{missing}/x.pt' not found"),
        c("--exp-dir", "{exp}", "--format", "torchscript", "--checkpoint", "{garbage}",
          "--out", "{out}/m.pt", expect="{garbage}"),
        c("--exp-dir", "{exp}", "--format", "torchscript", "--out", "{garbage}/x",
          expect="{garbage}"),
        c("--exp-dir", "{exp}", "--format", "torchscript", "--streaming", "--out", "{out}/m.pt",
          expect="{exp}: not a streaming experiment"),
        c("--exp-dir", "{stream_exp}", "--format", "onnx", "--streaming", "--out", "{out}/m.onnx",
          expect="{stream_exp}: the model attends to all of the past"),
        c("--exp-dir", "{stream_exp}", "--format", "torchscript", "--streaming", "--chunk-ms",
          "300", "--left-chunks", "2", "--out", "{out}/m.pt", expect="--chunk-ms 300 is 7.5"),
        c("--exp-dir", "{stream_exp}", "--format", "torchscript", "--streaming",
          "--left-chunks", "0", "--out", "{out}/m.pt", expect="--left-chunks must be >= 1"),
        c("--exp-dir", "{stream_exp}", "--format", "torchscript", "--chunk-ms", "160",
          expect="--chunk-ms and --left-chunks need --streaming"),
        c("--exp-dir", "{stream_exp}", "--format", "torchscript", "--streaming",
          "--left-chunks", "two", expect="invalid int value: 'two'", usage=True),
    ],
    "train-lm": [
        c("--text", "{missing}/text", "--out", "{out}/lm", expect="{missing}/text: file not found"),
        c("--text", "{garbage}", "--out", "{out}/lm", expect="{garbage}:1: not valid UTF-8"),
        c("--text", "{empty_file}", "--out", "{out}/lm", expect="{empty_file}: no transcripts"),
        c("--text", "{wavs}/text", "--out", "{out}/lm", "--order", "0",
          expect="order must be >= 1"),
        c("--text", "{wavs}/text", "--out", "{garbage}/x", expect="{garbage}"),
    ],
    "compile-lm": [
        c("{missing}/lm.arpa", expect="{missing}/lm.arpa: LM file not found"),
        c("{garbage}", "{out}/lm.asrlm", expect="{garbage}:1: not valid UTF-8"),
        c("{wavs}/text", "{out}/lm.asrlm", expect="{wavs}/text:1: not an ARPA file"),
        c("{arpa}", "{garbage}/x", expect="{garbage}"),
        c("{arpa}", "{arpa}", expect="{arpa}: the output would overwrite the ARPA file"),
    ],
    "validate-data": [
        c("{missing}", expect="data dir not found: {missing}"),
        c("{empty}", expect="{empty}: has neither wav.scp nor feats.scp"),
        c("{wavs}", "--tokens", "{missing}", expect="{missing}"),
        c("{wavs}", "--tokens", "{garbage}", expect="--tokens {garbage}: expected a lang dir"),
        c("{wavs}", "--tokens", "{badlang}", expect="{badlang}/tokens.txt: not a token list"),
    ],
    "fix-data": [
        c("{missing}", expect="data dir not found: {missing}"),
        c("{empty}", expect="{empty}: has neither wav.scp nor feats.scp"),
    ],
    "subset-data": [
        c("{missing}", "{out}", "--first", "1", expect="data dir not found: {missing}"),
        c("{empty}", "{out}", "--first", "1", expect="{empty}: has neither wav.scp nor feats.scp"),
        c("{wavs}", "{out}", "--utt-list", "{missing}.lst", expect="{missing}.lst: file not found"),
        c("{wavs}", "{out}", "--utt-list", "{garbage}", expect="{garbage}:1: not valid UTF-8"),
        c("{wavs}", "{out}", "--first", "0", expect="{wavs}: the subset is empty"),
        c("{wavs}", "{out}", "--first", "one", expect="invalid int value: 'one'", usage=True),
        c("{wavs}", "{out}", "--speakers", "nobody", expect="{wavs}: the subset is empty"),
        c("{wavs}", "{garbage}/x", "--first", "1", expect="{garbage}"),
    ],
    "combine-data": [
        c("{out}", "{wavs}", "{missing}", expect="data dir not found: {missing}"),
        c("{out}", "{wavs}", "{empty}", expect="{empty}: has neither wav.scp nor feats.scp"),
        c("{out}", "{feats}", "{feats40}", expect="{feats40}/feats.yaml and {feats}/feats.yaml "
                                                  "differ"),
        c("{garbage}/x", "{wavs}", expect="{garbage}"),
    ],
    "copy-data": [
        c("{missing}", "{out}", expect="data dir not found: {missing}"),
        c("{empty}", "{out}", expect="{empty}: has neither wav.scp nor feats.scp"),
        c("{wavs}", "{garbage}/x", expect="{garbage}"),
    ],
    "lhotse-import": [
        c("{missing}", "{out}", expect="data dir not found: {missing}"),
        c("{empty}", "{out}", expect="{empty}: has neither wav.scp nor feats.scp"),
        c("{badwav}", "{out}", expect="'{garbage_wav}'"),
        c("{wavs}", "{garbage}/x", expect="{garbage}"),
    ],
    "shar": [
        c("{missing}", "{out}", expect="data dir not found: {missing}"),
        c("{empty}", "{out}", expect="{empty}: has neither wav.scp nor feats.scp"),
        c("{badwav}", "{out}", "--content", "audio", expect="cannot read audio '{garbage_wav}'"),
        c("{wavs}", "{out}", "--shard-size", "0", expect="shard size must be >= 1, got 0"),
        c("{wavs}", "{out}", "--content", "features", expect="feats.scp"),
        c("{out}", "--verify", expect="{out}/shards.json: missing"),
        c("{garbage}", "--verify", expect="{garbage}/shards.json"),
    ],
    "lhotse-export": [
        c("{missing}", "{out}", expect="{missing}/recordings.jsonl.gz: missing"),
        c("--recordings", "{garbage}", "--supervisions", "{garbage}", "{out}",
          expect="{garbage}"),
        c("{out}", expect="give MANIFEST_DIR, or both --recordings and --supervisions"),
    ],
}


def test_every_command_has_sweep_cases():
    assert set(CASES) == set(COMMANDS), "add bad-input cases for new commands to CASES"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, str]:
    """Paths the cases name: good and broken data dirs, an exp dir, garbage files."""
    from asr.data.features import write_data_dir_feats

    root = tmp_path_factory.mktemp("sweep")
    (root / "empty").mkdir()
    (root / "garbage").write_bytes(GARBAGE)
    (root / "empty_file").write_bytes(b"")
    make_data_dir(root / "wavs", num_utts=2)
    (root / "notext").mkdir()
    for name in ("wav.scp", "utt2spk", "spk2utt"):
        (root / "notext" / name).write_text((root / "wavs" / name).read_text())
    (root / "wavs_ctm").write_text("spk0-utt000 1 0.00 0.20 ONE\n")  # no confidence
    make_data_dir(root / "badwav", num_utts=2)
    garbage_wav = Path(read_kv(root / "badwav" / "wav.scp")["spk0-utt000"])
    garbage_wav.write_bytes(GARBAGE)
    for name, bins in (("feats", 23), ("feats40_", 40)):
        make_data_dir(root / name, num_utts=2)
        write_data_dir_feats(root / name, FbankConfig(sample_rate=8000, num_mel_bins=bins))
    copy_data_dir(root / "feats40_", root / "feats40", "b-", "b-")  # ids apart from feats'
    for name, file in (("badlang", "tokens.txt"), ("badsp", "sp.model")):
        (root / name).mkdir()
        (root / name / file).write_bytes(GARBAGE)
    make_data_dir(root / "truncated", num_utts=1)
    write_kv(root / "truncated" / "feats.scp", write_ark_scp(
        root / "truncated" / "t.ark", root / "truncated" / "t.scp",
        [("spk0-utt000", np.ones((50, 4), np.float32))]))
    data = (root / "truncated" / "t.ark").read_bytes()
    (root / "truncated" / "t.ark").write_bytes(data[:len(data) // 2])
    for name, rate, seconds, amplitude in (("noise", 8000, 0.5, 500), ("noise16k", 16000, 0.5, 500),
                                           ("longrir", 8000, 3.0, 500), ("zerorir", 8000, 0.1, 0)):
        (root / name).mkdir()
        samples = np.random.default_rng(0).normal(0, amplitude, int(rate * seconds))
        soundfile.write(root / name / "n.wav", samples.astype(np.int16), rate)
    exp = make_exp_dir(root / "exp")
    make_streaming_exp(root / "stream_exp", root / "feats")
    bad = make_exp_dir(root / "bad_ckpt_exp")
    (bad / "checkpoints").mkdir()
    (bad / "checkpoints" / "epoch-1.pt").write_bytes(GARBAGE)
    (root / "config.yaml").write_text("train: {epochs: 1}\n")
    from asr.lm.arpa import write_arpa
    from asr.lm.compiled_lm import compile_arpa
    from asr.lm.ngram import train_witten_bell

    write_arpa(root / "lm.arpa", train_witten_bell([["a", "b"], ["b"]], 2))
    compiled = (root / "lm.asrlm")
    compile_arpa(root / "lm.arpa", compiled)
    (root / "truncated.asrlm").write_bytes(compiled.read_bytes()[:-100])
    paths = {p.name: str(p) for p in root.iterdir()}
    paths.update(missing=str(root / "missing"), garbage_wav=str(garbage_wav), exp=str(exp),
                 lang=str(exp / "lang"), config=str(root / "config.yaml"),
                 wav=read_kv(root / "wavs" / "wav.scp")["spk0-utt000"],
                 truncated_ark=str(root / "truncated" / "t.ark"), arpa=str(root / "lm.arpa"),
                 truncated_lm=str(root / "truncated.asrlm"))
    return paths


def make_streaming_exp(path: Path, data_dir: Path) -> None:
    """An untrained streaming Conformer (chunks of 4 and 8 frames: 160 and 320 ms) with
    global CMVN from ``data_dir``'s features."""
    from asr.config import save_config
    from asr.config.model_schema import (
        ChunkConfig,
        ConformerConfig,
        Conv2dFrontendConfig,
        ModelConfig,
    )
    from asr.config.schema import DataConfig, ExperimentConfig
    from asr.data.cmvn_stats import data_dir_stats, save_stats

    model = ModelConfig(frontend=Conv2dFrontendConfig(channels=8, output_dim=16),
                        encoder=ConformerConfig(d_model=16, num_layers=1, num_heads=2, ff_dim=32,
                                                causal_conv=True, chunk=ChunkConfig((4, 8))))
    make_exp_dir(path, model=model)
    save_config(ExperimentConfig(model=model, data=DataConfig(cmvn="global")),
                path / "config.yaml")
    save_stats(path / "cmvn.ark", data_dir_stats(data_dir))


def run(cmd: str, args: list[str], capsys) -> tuple[int, str]:
    try:
        rc = main([cmd, *args])
    except SystemExit as e:  # argparse
        rc = e.code
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("cmd,case", [(cmd, case) for cmd, cases in CASES.items()
                                      for case in cases],
                         ids=[f"{cmd}-{i}" for cmd, cases in CASES.items()
                              for i in range(len(cases))])
def test_bad_input_is_one_error_line(world, tmp_path, cmd, case, capsys):
    paths = {**world, "out": str(tmp_path / "out")}
    rc, err = run(cmd, [a.format(**paths) for a in case.args], capsys)
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines()
             if ln.strip() and not LOG_LINE.match(ln) and not PROGRESS.search(ln)]
    if case.usage:
        assert lines[0].startswith(f"usage: asr {cmd}"), err
        lines = lines[-1:]
    assert rc == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"asr {cmd}: error: "), err
    assert case.expect.format(**paths) in lines[0], err
