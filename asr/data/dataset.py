"""Utterance lists from data dirs and the Dataset that reads, normalizes and augments them.

Features come from a :class:`FeatureSource`: precomputed matrices read by scp offset
(:class:`ArkReader`, one cached file handle per ark per process) or fbank computed on the
fly from wav.scp/segments (:class:`OnTheFlyFbank`, optionally speed-perturbed and
augmented).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from asr.config.schema import AugmentConfig, FbankConfig, SpecAugmentConfig
from asr.data.ark import ArkReader
from asr.data.audio import load_audio
from asr.data.augment import spec_augment, utterance_generator
from asr.data.features import at_feature_rate, compute_fbank, num_frames
from asr.data.kaldi_dir import DataDir
from asr.data.perturb import speed_perturb
from asr.data.tokenizer import Tokenizer
from asr.data.wave_augment import WaveAugment, check_vtlp
from asr.errors import DataError, refuse_optimized
from asr.functional.ctc_search import ctc_min_input_length

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Utterance:
    utt_id: str
    feats: str  # kaldiio rxfilename, e.g. /abs/feats.ark:1234 ("" when computed from audio)
    num_frames: int
    text: str
    targets: tuple[int, ...]
    audio: tuple[str, float, float] | None = None  # wav.scp rxfilename, start s, end s (-1)


def load_utterances(data_dir: Path, tokenizer: Tokenizer, from_audio: bool = False,
                    allow_pipes: bool = True) -> list[Utterance]:
    """Pair features (feats.scp, or audio with ``from_audio``) with text and token ids.

    Every utterance must have a transcript that encodes to ids in [1, V) and a frame
    count in utt2num_frames (written by 'asr fbank', with --on-the-fly for audio).
    Without ``allow_pipes`` a ``cmd |`` entry of the dir is a DataError (nothing runs).
    """
    d = DataDir.load(data_dir, allow_pipes)
    d.require("text", "wav.scp" if from_audio else "feats.scp")
    d.transcripts()
    if d.utt2num_frames is None or any(u not in d.utt2num_frames for u in d.utt_ids):
        raise DataError(f"{d.path}: utt2num_frames is missing or incomplete; re-run "
                        f"'asr fbank{' --on-the-fly' if from_audio else ''} {d.path}'")
    utts = []
    unk = 0
    for utt in d.utt_ids:
        ids = tokenizer.encode(d.text[utt])
        if not ids:
            raise DataError(f"{d.path / 'text'}: utterance '{utt}' encodes to no tokens")
        bad = [i for i in ids if not 1 <= i < tokenizer.vocab_size]
        if bad:  # 0 is the CTC blank; >= V would index past the output layer
            raise DataError(f"{d.path / 'text'}: utterance '{utt}' encodes to token id {bad[0]} "
                            f"outside [1, {tokenizer.vocab_size}) (tokenizer and lang dir "
                            "disagree?)")
        unk += ids.count(1)
        feats = "" if from_audio else d.feats_scp[utt]  # type: ignore[index]
        utts.append(Utterance(utt, feats, d.utt2num_frames[utt], d.text[utt], tuple(ids),
                              d.audio_of(utt) if from_audio else None))
    if unk:
        log.warning("%s: %d tokens map to <unk> (characters outside the token list)", d.path, unk)
    return utts


def filter_feasible(utts: list[Utterance], out_length: Callable[[int], int],
                    name: str = "data", min_frames: int = 0, max_frames: int = 0,
                    min_speed_frames: Callable[[int], int] = lambda n: n) -> list[Utterance]:
    """Drop utterances CTC cannot align after subsampling (T' < L + repeats: the loss would
    be infinite) and those outside [min_frames, max_frames] (0 = no bound); log the counts.

    ``min_speed_frames`` maps frames to the fewest an on-the-fly speed change can leave.
    """
    too_short = too_long = infeasible = 0
    kept = []
    for u in utts:
        if u.num_frames < min_frames:
            too_short += 1
        elif max_frames and u.num_frames > max_frames:
            too_long += 1
        elif not ctc_feasible(u, out_length, min_speed_frames):
            infeasible += 1
        else:
            kept.append(u)
    if len(kept) < len(utts):
        log.warning("%s: dropped %d of %d utterances: %d shorter than %d frames, %d longer than "
                    "%s frames, %d too short for their transcripts after subsampling", name,
                    len(utts) - len(kept), len(utts), too_short, min_frames, too_long,
                    max_frames or "inf", infeasible)
    if not kept:
        raise DataError(f"{name}: no utterance left after the length filters "
                        f"({too_short} too short, {too_long} too long, {infeasible} infeasible "
                        "for CTC after subsampling)")
    return kept


def ctc_feasible(u: Utterance, out_length: Callable[[int], int],
                 min_speed_frames: Callable[[int], int] = lambda n: n) -> bool:
    """Whether CTC can align ``u``'s targets to the model's output frames (the fewest an
    on-the-fly speed change can leave): T' >= L + repeats."""
    return out_length(min_speed_frames(u.num_frames)) >= ctc_min_input_length(u.targets)


class FeatureSource(Protocol):
    def __call__(self, utt: Utterance, epoch: int) -> np.ndarray: ...


class PrecomputedFeats:
    """The utterance's matrix from its feats.scp entry (one cached handle per ark)."""

    def __init__(self) -> None:
        self.reader = ArkReader()

    def __call__(self, utt: Utterance, epoch: int = 0) -> np.ndarray:
        return self.reader(utt.utt_id, utt.feats)


class OnTheFlyFbank:
    """Fbank from the utterance's audio with the experiment's options (same numbers as the
    fbank stage); with ``speeds``, each (seed, epoch, utterance) draws one speed factor,
    and with ``augment`` (data.augment) its waveform augmentation and VTLP warp."""

    def __init__(self, cfg: FbankConfig, speeds: Sequence[float] = (), seed: int = 0,
                 allow_resample: bool = False, augment: AugmentConfig | None = None,
                 allow_pipes: bool = True):
        self.cfg = cfg
        self.speeds = tuple(speeds)
        self.seed = seed
        self.allow_resample = allow_resample
        self.augment = None
        if augment is not None and augment.active:
            if augment.vtlp.prob > 0:
                check_vtlp(cfg)
            self.augment = WaveAugment(augment, cfg.sample_rate, seed, allow_pipes)

    def __call__(self, utt: Utterance, epoch: int = 0) -> np.ndarray:
        if utt.audio is None:
            raise DataError(f"utterance '{utt.utt_id}': no audio to compute features from")
        rx, start, end = utt.audio
        samples, rate = load_audio(rx, utt.utt_id, start, end)
        return self.of_samples(samples, rate, utt.utt_id, epoch)

    def of_samples(self, samples: torch.Tensor, rate: int, utt_id: str, epoch: int = 0
                   ) -> np.ndarray:
        """Fbank (T, D) of an utterance's samples (S,) in int16 scale, perturbed and
        augmented as (seed, epoch, utterance) draw."""
        if self.speeds:
            g = utterance_generator(self.seed, epoch, "speed/" + utt_id)
            factor = self.speeds[int(torch.randint(len(self.speeds), (1,), generator=g))]
            samples = speed_perturb(samples, rate, factor)
        warp = 1.0
        if self.augment is not None and epoch >= self.augment.cfg.start_epoch:
            # noise and RIRs are at the features' rate
            samples = at_feature_rate(samples, rate, self.cfg, utt_id, self.allow_resample)
            rate = self.cfg.sample_rate
            samples, warp = self.augment(samples, epoch, utt_id)
        return compute_fbank(samples, rate, self.cfg, utt_id, self.allow_resample,
                             warp).numpy()

    def min_frames(self, frames: int) -> int:
        """The fewest frames the fastest speed (and tempo) factor can leave of ``frames``."""
        fastest = max(self.speeds, default=1.0)
        if self.augment is not None:
            fastest *= self.augment.fastest()
        samples = int(frames * self.cfg.sample_rate * self.cfg.frame_shift_ms / 1000 / fastest)
        return num_frames(samples, self.cfg) if fastest != 1.0 else frames


Item = tuple[str, torch.Tensor | None, torch.Tensor | None, str]


class UtteranceItems:
    """An utterance's :data:`Item`: (utt_id, feats (T, D) normalized [and augmented],
    targets (L,), transcript); with ``views`` = 2 (CR-CTC) feats are (2, T, D), the same
    utterance under two independent SpecAugment draws.

    With ``skip_bad``, an unreadable utterance is logged and returned as (utt_id, None,
    None, transcript), which :func:`asr.data.collate.collate` drops and lists in
    ``Batch.skipped``.
    """

    def __init__(self, normalize: Callable[[torch.Tensor, str], torch.Tensor],
                 specaug: SpecAugmentConfig | None = None, seed: int = 0,
                 source: FeatureSource | None = None, skip_bad: bool = False, views: int = 1):
        refuse_optimized()
        if views not in (1, 2):
            raise ValueError(f"views must be 1 or 2, got {views}")
        self.views = views
        self.normalize = normalize
        self.specaug = specaug if specaug is not None and specaug.enabled else None
        self.seed = seed
        self.epoch = 0
        self.source = source if source is not None else PrecomputedFeats()
        self.skip_bad = skip_bad

    def __call__(self, utt: Utterance) -> Item:
        try:
            mat = self.source(utt, self.epoch)
        except DataError as e:
            if not self.skip_bad:
                raise
            log.warning("skipping: %s", e)
            return utt.utt_id, None, None, utt.text
        if mat.dtype != np.float32 or not mat.flags.writeable:
            mat = mat.astype(np.float32)  # kaldiio's arrays are read-only views of bytes
        feats = self.normalize(torch.from_numpy(mat), utt.utt_id)
        views = [feats] * self.views
        # epoch 0: set_epoch not called (outside training); counts as the first
        if self.specaug is not None and max(self.epoch, 1) >= self.specaug.start_epoch:
            # view 0 draws what a one-view run draws, so CR-CTC only adds a second view
            views = [spec_augment(feats, self.specaug, utterance_generator(
                self.seed, self.epoch, utt.utt_id + (f"#view{v}" if v else "")))
                for v in range(self.views)]
        feats = views[0] if self.views == 1 else torch.stack(views)
        # from_numpy: torch.tensor on a tuple costs 4x more, per utterance
        targets = torch.from_numpy(np.array(utt.targets, dtype=np.int64))
        return utt.utt_id, feats, targets, utt.text


class FeatsDataset(Dataset):
    """The :data:`Item` of each of ``utts`` (see :class:`UtteranceItems`), by index."""

    def __init__(self, utts: list[Utterance],
                 normalize: Callable[[torch.Tensor, str], torch.Tensor],
                 specaug: SpecAugmentConfig | None = None, seed: int = 0,
                 source: FeatureSource | None = None, skip_bad: bool = False, views: int = 1):
        self.utts = utts
        self.items = UtteranceItems(normalize, specaug, seed, source, skip_bad, views)

    def set_epoch(self, epoch: int) -> None:
        self.items.epoch = epoch

    def __len__(self) -> int:
        return len(self.utts)

    def __getitem__(self, index: int) -> Item:
        return self.items(self.utts[index])
