"""Synthetic speech-like audio and tiny data dirs, so tests never download anything."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from asr.config.model_schema import ModelConfig
from asr.config.schema import DataConfig, FbankConfig
from asr.data.kaldi_dir import write_data_dir

WORDS = ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE")


def synth_utterance(digits: list[int], rate: int = 8000, seed: int = 0) -> np.ndarray:
    """int16 audio: one 0.3 s harmonic 'word' per digit (pitch set by the digit), with
    noise pauses; distinct enough per digit for a tiny model to learn."""
    rng = np.random.default_rng(seed)
    parts = [rng.normal(0, 30, int(0.1 * rate))]
    for d in digits:
        t = np.arange(int(0.3 * rate)) / rate
        f0 = 150 + 40 * d
        word = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3))
        envelope = np.sin(np.pi * t / t[-1])
        parts += [3000 * word * envelope + rng.normal(0, 30, t.size),
                  rng.normal(0, 30, int(0.1 * rate))]
    return np.clip(np.concatenate(parts), -32768, 32767).astype(np.int16)


def make_data_dir(path: Path, num_utts: int = 4, rate: int = 8000, seed: int = 0,
                  max_digits: int = 3) -> dict[str, str]:
    """Write wav files and a data dir (wav.scp, text, utt2spk, spk2utt); return the text."""
    path = Path(path)
    wav_dir = path / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    wav_scp, text, utt2spk = {}, {}, {}
    for i in range(num_utts):
        spk = f"spk{i % 2}"
        utt = f"{spk}-utt{i:03d}"
        digits = [int(d) for d in rng.integers(0, 10, rng.integers(1, max_digits + 1))]
        wav = wav_dir / f"{utt}.wav"
        soundfile.write(wav, synth_utterance(digits, rate, seed * 1000 + i), rate, subtype="PCM_16")
        wav_scp[utt] = str(wav.resolve())
        text[utt] = " ".join(WORDS[d] for d in digits)
        utt2spk[utt] = spk
    write_data_dir(path, wav_scp, text, utt2spk)
    return text


def make_train_corpus(root: Path, train_utts: int, dev_utts: int,
                      feats: FbankConfig | None = None) -> Path:
    """``root/{train,dev}`` with fbank features, global CMVN stats of train and a char
    ``root/lang``: everything ``asr train`` needs, for training tests."""
    from asr.data.cmvn_stats import data_dir_stats, save_stats
    from asr.data.features import write_data_dir_feats
    from asr.data.tokenizer import train_tokenizer

    root = Path(root)
    feats = feats or FbankConfig(sample_rate=8000, num_mel_bins=23)
    texts: dict[str, str] = {}
    for name, n, seed in (("train", train_utts, 0), ("dev", dev_utts, 1)):
        texts.update(make_data_dir(root / name, num_utts=n, seed=seed))
        write_data_dir_feats(root / name, feats)
    save_stats(root / "train" / "cmvn.ark", data_dir_stats(root / "train"))
    train_tokenizer(list(texts.values()), root / "lang", "char")
    return root


def make_exp_dir(path: Path, model: ModelConfig | None = None,
                 feats: FbankConfig | None = None) -> Path:
    """An experiment dir with an untrained model (torch seed 0), a char lang dir and
    per-utterance CMVN: what decode, transcribe and export need, without training."""
    import torch

    from asr.config import save_config
    from asr.config.model_schema import BiLSTMConfig, Conv2dFrontendConfig
    from asr.config.schema import ExperimentConfig
    from asr.data.kaldi_dir import FEATS_CONFIG
    from asr.data.tokenizer import train_tokenizer
    from asr.exp.experiment import CONFIG, FINAL, LANG, Experiment
    from asr.train.checkpoint import save_checkpoint

    model = model or ModelConfig(frontend=Conv2dFrontendConfig(channels=8, output_dim=32),
                                 encoder=BiLSTMConfig(num_layers=1, hidden_size=24))
    path = Path(path)
    path.mkdir(parents=True)
    save_config(ExperimentConfig(model=model, data=DataConfig(cmvn="utterance")), path / CONFIG)
    save_config(feats or FbankConfig(sample_rate=8000, num_mel_bins=23), path / FEATS_CONFIG)
    train_tokenizer([" ".join(WORDS)], path / LANG, "char")
    torch.manual_seed(0)
    save_checkpoint(path / FINAL,
                    {"model": dict(Experiment.load(path).build_model().state_dict())})
    return path


def synth_words(words: list[str], vocab: list[str], rate: int, seed: int) -> np.ndarray:
    """int16 audio of ``words``, each rendered as the synthetic 'digit' of its index in
    ``vocab``: a stand-in for speech in corpus layouts that tests build on the fly."""
    return synth_utterance([vocab.index(w) % 10 for w in words], rate, seed)


def make_librispeech_corpus(path: Path, parts: dict[str, int], seed: int = 0) -> Path:
    """A stand-in for LibriSpeech: ``path/LibriSpeech/<part>/<spk>/<chapter>/`` with 16 kHz
    flac files and ``<spk>-<chapter>.trans.txt``; ``parts`` maps part name to utterances.
    Speakers differ between parts, as in the real corpus."""
    root = Path(path) / "LibriSpeech"
    rng = np.random.default_rng(seed)
    for p, (part, count) in enumerate(parts.items()):
        for i in range(count):
            spk, chapter = 100 + 10 * p + i % 2, 1000 + p
            d = root / part / str(spk) / str(chapter)
            d.mkdir(parents=True, exist_ok=True)
            utt = f"{spk}-{chapter}-{i:04d}"
            words = [WORDS[int(k)] for k in rng.integers(0, 10, rng.integers(2, 5))]
            audio = synth_words(words, list(WORDS), 16000, seed * 1000 + 100 * p + i)
            soundfile.write(d / f"{utt}.flac", audio, 16000, format="FLAC")
            with open(d / f"{spk}-{chapter}.trans.txt", "a", encoding="utf-8") as f:
                f.write(f"{utt} {' '.join(words)}\n")
    return Path(path)
