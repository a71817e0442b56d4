"""Build the train and dev Datasets an experiment config asks for: Kaldi data dirs or a
lhotse CutSet (``data.source``), precomputed or on-the-fly features (``data.features``).

The training loop only sees :class:`DataSplit`: a Dataset yielding (utt_id, feats,
targets) items and the frame count of each item, which the length-bucketed sampler needs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from asr.config.schema import ExperimentConfig, FbankConfig
from asr.data.cmvn import make_normalizer
from asr.data.dataset import (
    FeatsDataset,
    FeatureSource,
    OnTheFlyFbank,
    PrecomputedFeats,
    Utterance,
    filter_feasible,
    load_utterances,
)
from asr.data.features import log_noise_floor
from asr.data.tokenizer import Tokenizer
from asr.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class DataSplit:
    dataset: FeatsDataset
    lengths: list[int]  # frames of each item (nominal, before on-the-fly speed changes)


def _utterances(cfg: ExperimentConfig, data_dir: Path, tokenizer: Tokenizer,
                feats: FbankConfig, train: bool) -> tuple[list[Utterance], FeatureSource]:
    from_audio = cfg.data.features == "on_the_fly"
    if cfg.data.source == "lhotse":
        from asr.data.lhotse_io import CutFeatures, load_cut_utterances

        utts, cuts = load_cut_utterances(data_dir, tokenizer, feats, from_audio,
                                         cfg.data.allow_pipes)
        return utts, CutFeatures(cuts, feats, from_audio)
    utts = load_utterances(data_dir, tokenizer, from_audio, cfg.data.allow_pipes)
    if not from_audio:
        return utts, PrecomputedFeats()
    speeds = cfg.data.speed_perturb if train else ()
    return utts, OnTheFlyFbank(feats, speeds, cfg.train.seed,
                               augment=cfg.data.augment if train else None,
                               allow_pipes=cfg.data.allow_pipes)


def build_split(cfg: ExperimentConfig, cmvn_stats: Path, data_dir: Path, tokenizer: Tokenizer,
                feats: FbankConfig, out_length: Callable[[int], int], train: bool) -> DataSplit:
    """The Dataset of one data dir (or manifest dir) after the length filters;
    ``cmvn_stats`` is the training set's global CMVN file (used by data.cmvn: global).

    Duration bounds apply to training data only: dev keeps every feasible utterance.
    """
    if cfg.data.source == "lhotse" and cfg.data.cmvn == "speaker":
        raise ConfigError("data.cmvn: 'speaker' needs Kaldi data dirs (cmvn.scp); use "
                          "'global' or 'utterance' with data.source: lhotse")
    utts, source = _utterances(cfg, data_dir, tokenizer, feats, train)
    per_second = 1000.0 / feats.frame_shift_ms
    bounds = (int(cfg.data.min_duration * per_second), int(cfg.data.max_duration * per_second))
    min_frames = source.min_frames if isinstance(source, OnTheFlyFbank) else (lambda n: n)
    kept = filter_feasible(utts, out_length, str(data_dir), *(bounds if train else (0, 0)),
                           min_speed_frames=min_frames)
    normalize = make_normalizer(cfg.data, cmvn_stats, data_dir, floor=log_noise_floor(feats))
    dataset = FeatsDataset(kept, normalize, cfg.specaug if train else None, cfg.train.seed,
                           source, cfg.data.skip_bad,
                           views=2 if train and cfg.loss.cr_ctc_weight else 1)
    return DataSplit(dataset, [u.num_frames for u in kept])


def build_datasets(cfg: ExperimentConfig, cmvn_stats: Path, train_dir: Path, dev_dir: Path,
                   tokenizer: Tokenizer, feats: FbankConfig, out_length: Callable[[int], int]
                   ) -> tuple[DataSplit, DataSplit]:
    """(train, dev) splits; ``out_length`` is the model's subsampled-length function."""
    return (build_split(cfg, cmvn_stats, train_dir, tokenizer, feats, out_length, train=True),
            build_split(cfg, cmvn_stats, dev_dir, tokenizer, feats, out_length, train=False))
