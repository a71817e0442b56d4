"""Build the train and dev data an experiment config asks for: Kaldi data dirs, a lhotse
CutSet or shard dirs (``data.source``), precomputed or on-the-fly features
(``data.features``).

The training loop only sees :class:`DataSplit`: a DataLoader and the :class:`BatchPlan`
that says which batches it yields, epoch by epoch, from any resume point.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Dataset

from asr.config.schema import ExperimentConfig, FbankConfig
from asr.data.cmvn import make_normalizer
from asr.data.collate import collate
from asr.data.dataset import (
    FeatsDataset,
    FeatureSource,
    OnTheFlyFbank,
    PrecomputedFeats,
    Utterance,
    UtteranceItems,
    filter_feasible,
    load_utterances,
)
from asr.data.features import log_noise_floor
from asr.data.sampler import BucketBatchSampler
from asr.data.tokenizer import Tokenizer
from asr.errors import ConfigError

log = logging.getLogger(__name__)


class BatchPlan(Protocol):
    """The batches of each epoch (:class:`BucketBatchSampler` or
    :class:`asr.data.shar_plan.ShardPlan`): the loop selects an epoch and a start, and
    checkpoints the position."""

    start: int

    def set_epoch(self, epoch: int, start: int = 0) -> None: ...

    def __len__(self) -> int: ...

    def batches(self, epoch: int) -> list: ...

    def state_dict(self, epoch: int, consumed: int) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class DataSplit:
    dataset: Dataset  # FeatsDataset (items by index) or ShardBatches (whole batches)
    plan: BatchPlan
    num_utterances: int

    def loader(self, num_workers: int, generator: torch.Generator | None = None,
               pin_memory: bool = False) -> DataLoader:
        """The DataLoader that yields the plan's batches (collated :class:`Batch` es)."""
        if isinstance(self.plan, BucketBatchSampler):
            return DataLoader(self.dataset, batch_sampler=self.plan, collate_fn=collate,
                              num_workers=num_workers, generator=generator,
                              pin_memory=pin_memory)
        return DataLoader(self.dataset, batch_size=None, num_workers=num_workers,
                          generator=generator, pin_memory=pin_memory)


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world_size: int = 1


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
    return utts, _fbank(cfg, feats, train)


def _frame_bounds(cfg: ExperimentConfig, feats: FbankConfig, train: bool) -> tuple[int, int]:
    """Duration bounds in frames: training data only (dev keeps every feasible utterance)."""
    per_second = 1000.0 / feats.frame_shift_ms
    return ((int(cfg.data.min_duration * per_second), int(cfg.data.max_duration * per_second))
            if train else (0, 0))


def _fbank(cfg: ExperimentConfig, feats: FbankConfig, train: bool) -> OnTheFlyFbank:
    return OnTheFlyFbank(feats, cfg.data.speed_perturb if train else (), cfg.train.seed,
                         augment=cfg.data.augment if train else None,
                         allow_pipes=cfg.data.allow_pipes)


def _items(cfg: ExperimentConfig, cmvn_stats: Path, data_dir: Path, feats: FbankConfig,
           source: FeatureSource, train: bool) -> UtteranceItems:
    normalize = make_normalizer(cfg.data, cmvn_stats, data_dir, floor=log_noise_floor(feats))
    return UtteranceItems(normalize, cfg.specaug if train else None, cfg.train.seed, source,
                          cfg.data.skip_bad, views=2 if train and cfg.loss.cr_ctc_weight else 1)


def _shard_split(cfg: ExperimentConfig, cmvn_stats: Path, data_dir: Path, tokenizer: Tokenizer,
                 feats: FbankConfig, out_length: Callable[[int], int], train: bool,
                 ranks: Ranks) -> DataSplit:
    from asr.data.shar_plan import ShardPlan
    from asr.data.shar_read import ShardBatches, ShardFeatures, open_index, plan_lengths

    index = open_index(str(data_dir))
    wanted = "audio" if cfg.data.features == "on_the_fly" else "features"
    if index.content != wanted:
        raise ConfigError(f"data.features: {cfg.data.features} needs shards of {wanted}, but "
                          f"{data_dir} holds {index.content}; write them with 'asr shar "
                          f"--content {wanted}' or set data.features: "
                          f"{'precomputed' if wanted == 'audio' else 'on_the_fly'}")
    fbank = _fbank(cfg, feats, train) if wanted == "audio" else None
    lengths = plan_lengths(index, feats)
    d = cfg.data
    plan = ShardPlan(lengths, d.max_frames, d.max_utts, shuffle=train, seed=cfg.train.seed,
                     sortagrad=d.sortagrad, pool_batches=d.pool_batches,
                     buffer_shards=d.buffer_shards, rank=ranks.rank,
                     world_size=ranks.world_size, lanes=max(1, d.num_workers),
                     drop_uneven=train, frame_bounds=_frame_bounds(cfg, feats, train))
    items = _items(cfg, cmvn_stats, data_dir, feats,
                   ShardFeatures(index.content, fbank, index.sample_rate), train)
    dataset = ShardBatches(str(data_dir), index, plan, items, tokenizer, out_length,
                           fbank.min_frames if fbank is not None else (lambda n: n))
    return DataSplit(dataset, plan, sum(s.num_cuts for s in index.shards))


def build_split(cfg: ExperimentConfig, cmvn_stats: Path, data_dir: Path, tokenizer: Tokenizer,
                feats: FbankConfig, out_length: Callable[[int], int], train: bool,
                ranks: Ranks = Ranks()) -> DataSplit:
    """The data of one data dir (or manifest or shard dir) after the length filters;
    ``cmvn_stats`` is the training set's global CMVN file (used by data.cmvn: global).
    Training batches are shuffled per epoch and cut to the same count on every rank."""
    if cfg.data.source != "kaldi" and cfg.data.cmvn == "speaker":
        raise ConfigError(f"data.cmvn: 'speaker' needs Kaldi data dirs (cmvn.scp); use "
                          f"'global', 'online' or 'utterance' with data.source: "
                          f"{cfg.data.source}")
    if cfg.data.source == "lhotse_shar":
        return _shard_split(cfg, cmvn_stats, data_dir, tokenizer, feats, out_length, train,
                            ranks)
    utts, source = _utterances(cfg, data_dir, tokenizer, feats, train)
    min_frames = source.min_frames if isinstance(source, OnTheFlyFbank) else (lambda n: n)
    kept = filter_feasible(utts, out_length, str(data_dir), *_frame_bounds(cfg, feats, train),
                           min_speed_frames=min_frames)
    items = _items(cfg, cmvn_stats, data_dir, feats, source, train)
    dataset = FeatsDataset(kept, items.normalize, items.specaug, items.seed, source,
                           items.skip_bad, items.views)
    d = cfg.data
    lengths = [u.num_frames for u in kept]
    plan = (BucketBatchSampler(lengths, d.max_frames, d.max_utts, shuffle=True,
                               seed=cfg.train.seed, sortagrad=d.sortagrad,
                               pool_batches=d.pool_batches, rank=ranks.rank,
                               world_size=ranks.world_size) if train else
            BucketBatchSampler(lengths, d.max_frames, d.max_utts, shuffle=False,
                               rank=ranks.rank, world_size=ranks.world_size,
                               drop_uneven=False))
    return DataSplit(dataset, plan, len(kept))


def build_datasets(cfg: ExperimentConfig, cmvn_stats: Path, train_dir: Path, dev_dir: Path,
                   tokenizer: Tokenizer, feats: FbankConfig, out_length: Callable[[int], int],
                   ranks: Ranks = Ranks()) -> tuple[DataSplit, DataSplit]:
    """(train, dev) splits; ``out_length`` is the model's subsampled-length function."""
    return (build_split(cfg, cmvn_stats, train_dir, tokenizer, feats, out_length, True, ranks),
            build_split(cfg, cmvn_stats, dev_dir, tokenizer, feats, out_length, False, ranks))
