"""A self-contained experiment dir: config, lang dir, feature config, CMVN, checkpoints.

Decoding a data dir or a wav file needs nothing but this dir.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from asr.config import load_config
from asr.data.cmvn import (
    GlobalCmvn,
    SpeakerCmvn,
    UtteranceCmvn,
    load_speaker_stats,
    load_stats,
    speaker_stats,
)
from asr.data.features import FEATS_CONFIG, read_feats_config
from asr.data.kaldi_dir import read_kv
from asr.data.tokenizer import SP_MODEL, TOKENS_FILE, Tokenizer, load_tokenizer
from asr.errors import AsrError
from asr.nn.model import CTCModel
from asr.nn.registry import build_model
from asr.schema import DataConfig, ExperimentConfig, FbankConfig
from asr.train.checkpoint import epoch_checkpoints, load_checkpoint

CONFIG = "config.yaml"
CMVN = "cmvn.ark"
LANG = "lang"
CKPT_DIR = "checkpoints"
FINAL = "final.pt"


Normalizer = Callable[[torch.Tensor, str], torch.Tensor]  # (feats (T, D), utt_id) -> feats


def make_normalizer(cfg: DataConfig, stats_path: Path | None, data_dir: Path | None = None,
                    feats: Iterable[tuple[str, np.ndarray]] | None = None) -> Normalizer:
    """The CMVN of ``cfg.cmvn``. Global uses the training stats at ``stats_path``; speaker
    uses DATA_DIR/cmvn.scp, or stats accumulated from ``feats`` when it has none (without
    a data dir, each utterance is its own speaker, as in Kaldi without utt2spk)."""
    if cfg.cmvn == "global":
        if stats_path is None or not Path(stats_path).is_file():
            raise AsrError(f"data.cmvn is 'global' but the CMVN stats {stats_path} are missing "
                           "(run 'asr cmvn' on the training data dir)")
        return GlobalCmvn(load_stats(stats_path), cfg.norm_vars)
    if cfg.cmvn == "speaker":
        if data_dir is None:
            if feats is None:
                raise AsrError("data.cmvn is 'speaker' but no data dir gives the speakers")
            return SpeakerCmvn(None, speaker_stats(feats, None), cfg.norm_vars)
        # the callers have loaded and checked the dir already: only the speakers are needed
        spk_file = Path(data_dir) / "utt2spk"
        utt2spk = read_kv(spk_file, what="speaker") if spk_file.is_file() else None
        if (Path(data_dir) / "cmvn.scp").is_file():
            stats = load_speaker_stats(data_dir)
        elif feats is not None:
            stats = speaker_stats(feats, utt2spk)
        else:
            raise AsrError(f"data.cmvn is 'speaker' but {data_dir}/cmvn.scp is missing "
                           f"(run 'asr cmvn --per-speaker {data_dir}')")
        return SpeakerCmvn(utt2spk, stats, cfg.norm_vars)
    if cfg.cmvn == "utterance":
        return UtteranceCmvn(cfg.norm_vars)
    return lambda x, utt_id="": x


def populate(exp: Path, train_dir: Path, lang_dir: Path) -> None:
    """Copy the feature config, CMVN stats and lang dir of the training data into ``exp``."""
    (exp / LANG).mkdir(parents=True, exist_ok=True)
    for name in (TOKENS_FILE, SP_MODEL):
        if (Path(lang_dir) / name).is_file():
            shutil.copyfile(Path(lang_dir) / name, exp / LANG / name)
    shutil.copyfile(Path(train_dir) / FEATS_CONFIG, exp / FEATS_CONFIG)
    if (Path(train_dir) / CMVN).is_file():
        shutil.copyfile(Path(train_dir) / CMVN, exp / CMVN)


@dataclass
class Experiment:
    path: Path
    config: ExperimentConfig
    feats: FbankConfig
    tokenizer: Tokenizer

    @classmethod
    def load(cls, path: str | Path) -> Experiment:
        path = Path(path)
        if not (path / CONFIG).is_file():
            raise AsrError(f"{path}: not an experiment dir ({CONFIG} missing; run 'asr train')")
        return cls(path, load_config(ExperimentConfig, path / CONFIG), read_feats_config(path),
                   load_tokenizer(path / LANG))

    def normalizer(self, data_dir: Path | None = None,
                   feats: Iterable[tuple[str, np.ndarray]] | None = None) -> Normalizer:
        return make_normalizer(self.config.data, self.path / CMVN, data_dir, feats)

    def build_model(self) -> CTCModel:
        return build_model(self.config.model, self.feats.num_mel_bins, self.tokenizer.vocab_size)

    def checkpoint_path(self, name: str | None = None) -> Path:
        """``name`` as given (a path, or a file in checkpoints/); else final.pt, else the
        newest epoch checkpoint."""
        if name:
            for cand in (Path(name), self.path / name, self.path / CKPT_DIR / name):
                if cand.is_file():
                    return cand
            raise AsrError(f"checkpoint '{name}' not found (looked in {self.path})")
        if (self.path / FINAL).is_file():
            return self.path / FINAL
        ckpts = epoch_checkpoints(self.path / CKPT_DIR)
        if not ckpts:
            raise AsrError(f"{self.path}: no checkpoint to decode with (train first)")
        return ckpts[-1][1]

    def load_model(self, checkpoint: str | None = None, device: str = "cpu") -> CTCModel:
        """The model of ``checkpoint`` (see :meth:`checkpoint_path`), verified and loaded
        without running code; a file from elsewhere without a checksum is warned of."""
        path = self.checkpoint_path(checkpoint)
        payload = load_checkpoint(path, require_checksum=False)
        if not isinstance(payload.get("model"), dict):
            raise AsrError(f"{path}: not a model file (no 'model' state dict)")
        model = self.build_model()
        try:
            model.load_state_dict(payload["model"])
        except (RuntimeError, KeyError) as e:
            raise AsrError(f"{path}: does not fit this experiment's model: "
                           f"{str(e).splitlines()[0]}") from None
        return model.to(device).eval()
