"""Utterance lists from data dirs and the kaldiio-backed feature Dataset."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import kaldiio
import numpy as np
import torch
from torch.utils.data import Dataset

from asr.data.augment import spec_augment, utterance_generator
from asr.data.kaldi_dir import DataDir
from asr.data.tokenizer import Tokenizer
from asr.errors import DataError
from asr.functional.ctc import ctc_min_input_length
from asr.schema import SpecAugmentConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Utterance:
    utt_id: str
    feats: str  # kaldiio rxfilename, e.g. /abs/feats.ark:1234
    num_frames: int
    text: str
    targets: tuple[int, ...]


def load_utterances(data_dir: Path, tokenizer: Tokenizer) -> list[Utterance]:
    """Pair feats.scp with text and token ids; every text entry must have features."""
    d = DataDir.load(data_dir)
    d.require("feats.scp", "text")
    assert d.feats_scp is not None and d.text is not None
    missing = [u for u in d.feats_scp if u not in d.text]
    if missing:
        raise DataError(f"{d.path / 'feats.scp'}: utterance '{missing[0]}' has no transcript in "
                        f"{d.path / 'text'} ({len(missing)} such utterances)")
    utts = []
    unk = 0
    for utt in d.utt_ids:
        ids = tokenizer.encode(d.text[utt])
        if not ids:
            raise DataError(f"{d.path / 'text'}: utterance '{utt}' encodes to no tokens")
        unk += ids.count(1)
        frames = d.utt2num_frames[utt] if d.utt2num_frames else -1
        utts.append(Utterance(utt, d.feats_scp[utt], frames, d.text[utt], tuple(ids)))
    if unk:
        log.warning("%s: %d tokens map to <unk> (characters outside the token list)", d.path, unk)
    if any(u.num_frames < 0 for u in utts):
        raise DataError(f"{d.path}: utt2num_frames is missing; re-run the fbank stage")
    return utts


def filter_feasible(utts: list[Utterance], out_length: Callable[[int], int],
                    name: str = "data") -> list[Utterance]:
    """Drop utterances too short for CTC after subsampling (the loss would be infinite)."""
    kept = [u for u in utts if out_length(u.num_frames) >= ctc_min_input_length(u.targets)]
    if len(kept) < len(utts):
        log.warning("%s: dropped %d of %d utterances too short for their transcripts after "
                    "subsampling", name, len(utts) - len(kept), len(utts))
    if not kept:
        raise DataError(f"{name}: no utterance is long enough for CTC after subsampling")
    return kept


def read_matrix(utt_id: str, rxfilename: str) -> np.ndarray:
    """Read one feature matrix, checked: 2-D, non-empty, finite."""
    try:
        mat = kaldiio.load_mat(rxfilename)
    except Exception as e:
        raise DataError(f"utterance '{utt_id}': cannot read features at '{rxfilename}': "
                        f"{type(e).__name__}: {e}") from None
    mat = np.asarray(mat)
    if mat.ndim != 2 or mat.shape[0] == 0:
        raise DataError(f"utterance '{utt_id}': features at '{rxfilename}' have shape "
                        f"{mat.shape}; expected (frames > 0, dim)")
    if not np.isfinite(mat).all():
        raise DataError(f"utterance '{utt_id}': features at '{rxfilename}' contain NaN or inf")
    return mat


class FeatsDataset(Dataset):
    """Items are (utt_id, feats (T, D) normalized [and augmented], targets (L,))."""

    def __init__(self, utts: list[Utterance],
                 normalize: Callable[[torch.Tensor, str], torch.Tensor],
                 specaug: SpecAugmentConfig | None = None, seed: int = 0):
        self.utts = utts
        self.normalize = normalize
        self.specaug = specaug if specaug is not None and specaug.enabled else None
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.utts)

    def __getitem__(self, index: int) -> tuple[str, torch.Tensor, torch.Tensor]:
        utt = self.utts[index]
        mat = read_matrix(utt.utt_id, utt.feats).astype(np.float32)
        feats = self.normalize(torch.from_numpy(mat), utt.utt_id)
        if self.specaug is not None:
            feats = spec_augment(feats, self.specaug,
                                 utterance_generator(self.seed, self.epoch, utt.utt_id))
        return utt.utt_id, feats, torch.tensor(utt.targets, dtype=torch.long)
