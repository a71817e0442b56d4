"""A self-contained experiment dir: config, lang dir, feature config, CMVN, checkpoints.

Decoding a data dir or a wav file needs nothing but this dir.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.config import load_config
from asr.config.schema import ExperimentConfig, FbankConfig
from asr.data.cmvn import Normalizer, make_normalizer
from asr.data.features import FEATS_CONFIG, log_noise_floor, read_feats_config
from asr.data.tokenizer import SP_MODEL, TOKENS_FILE, Tokenizer, load_tokenizer
from asr.errors import AsrError
from asr.exp.checkpoint_file import load_checkpoint
from asr.exp.layout import CKPT_DIR, CMVN, CONFIG, FINAL, LANG, epoch_checkpoints
from asr.nn.model import CTCModel
from asr.nn.registry import build_model


def populate(exp: Path, train_dir: Path, lang_dir: Path) -> None:
    """Copy the feature config, CMVN stats and lang dir of the training data into ``exp``;
    both are read first, so a missing or broken one is an error naming the input."""
    read_feats_config(train_dir)
    load_tokenizer(lang_dir)
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
                   feats: Iterable[tuple[str, np.ndarray]] | None = None,
                   utt2spk: Mapping[str, str] | None = None) -> Normalizer:
        """The exp's CMVN for ``data_dir`` (or the utterances of ``feats``, their speakers
        in ``utt2spk``), its silent frames known from the exp's noise floor
        (:func:`asr.data.cmvn.make_normalizer`)."""
        return make_normalizer(self.config.data, self.path / CMVN, data_dir, feats,
                               log_noise_floor(self.feats), utt2spk)

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
