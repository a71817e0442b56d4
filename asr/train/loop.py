"""The training loop: compute_loss, train_one_epoch, validate, run.

Kept short enough to read in one sitting. Trade-offs, stated:
- the loss is summed over the batch and divided by its utterance count, so utterances
  weigh the same whatever their length (ESPnet's choice; icefall divides by frames);
- the dropout RNG is reseeded from (seed, epoch) at each epoch start, so an epoch's
  randomness does not depend on whether the run was resumed before it;
- batches come from a length-bucketed sampler under a frame budget, so the number of
  utterances per step varies; the schedule counts optimizer steps.
"""

from __future__ import annotations

import logging
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from asr import exp_dir as E
from asr.config import config_hash, dump_config, load_config, save_config
from asr.data.collate import Batch, collate
from asr.data.dataset import FeatsDataset
from asr.data.features import read_feats_config
from asr.data.pipeline import build_datasets
from asr.data.sampler import BucketBatchSampler
from asr.data.tokenizer import Tokenizer, load_tokenizer
from asr.errors import AsrError
from asr.functional.ctc import ctc_greedy_search
from asr.functional.edit_distance import ErrorCounts, align
from asr.nn.ctc import ctc_loss
from asr.nn.model import CTCModel
from asr.nn.registry import build_model
from asr.schema import ExperimentConfig
from asr.train import checkpoint as ckpt
from asr.train.optim import build_optimizer, build_scheduler
from asr.train.state import TrainState
from asr.utils import resolve_device

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    return seed * 100_003 + epoch  # distinct per (seed, epoch) for any realistic epoch count


def compute_loss(model: CTCModel, batch: Batch) -> tuple[torch.Tensor, int]:
    """Summed CTC loss of a batch and the number of infeasible (zeroed) utterances."""
    log_probs, out_lens = model(batch.feats, batch.feat_lens)
    return ctc_loss(log_probs, out_lens, batch.targets, batch.target_lens)


@torch.no_grad()
def validate(model: CTCModel, loader: DataLoader, tokenizer: Tokenizer,
             device: torch.device) -> tuple[float, ErrorCounts]:
    """Dev loss per utterance and greedy word error counts."""
    model.eval()
    total, n = 0.0, 0
    counts = ErrorCounts()
    refs = {u.utt_id: u.text for u in loader.dataset.utts}
    for batch in loader:
        batch = batch.to(device)
        log_probs, out_lens = model(batch.feats, batch.feat_lens)
        loss, _ = ctc_loss(log_probs, out_lens, batch.targets, batch.target_lens)
        total += float(loss)
        n += len(batch.utt_ids)
        for utt, ids in zip(batch.utt_ids, ctc_greedy_search(log_probs, out_lens),
                            strict=True):
            c, _ = align(refs[utt].split(), tokenizer.decode(ids).split())
            counts += c
    return total / max(1, n), counts


@dataclass
class Trainer:
    cfg: ExperimentConfig
    exp: Path
    model: CTCModel
    tokenizer: Tokenizer
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    state: TrainState
    train_loader: DataLoader
    dev_loader: DataLoader
    device: torch.device
    writer: object

    def train_one_epoch(self) -> None:
        cfg, state, model = self.cfg, self.state, self.model
        sampler: BucketBatchSampler = self.train_loader.batch_sampler
        sampler.set_epoch(state.epoch, start=state.batches_done)
        self.train_loader.dataset.set_epoch(state.epoch)
        torch.manual_seed(epoch_seed(cfg.train.seed, state.epoch))
        model.train()
        frames, t0, loss_acc, utt_acc = 0, time.time(), 0.0, 0
        bar = tqdm(self.train_loader, desc=f"epoch {state.epoch}", unit="batch",
                   disable=None, mininterval=1 if sys.stderr.isatty() else 30, leave=False)
        for batch in bar:
            batch = batch.to(self.device)
            loss_sum, zeroed = compute_loss(model, batch)
            loss = loss_sum / len(batch.utt_ids)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(),
                                                       cfg.train.clip_grad_norm)
            state.zeroed_utts += zeroed
            if torch.isfinite(loss) and torch.isfinite(grad_norm):
                self.optimizer.step()
                self.scheduler.step()
                state.step += 1
            else:  # parameters stay untouched; the step is counted, not taken
                state.skipped_steps += 1
                self.optimizer.zero_grad(set_to_none=True)
            state.batches_done += 1
            frames += batch.num_frames
            loss_acc += float(loss_sum.detach())
            utt_acc += len(batch.utt_ids)
            if state.batches_done % cfg.train.log_interval == 0:
                scaled, seen = model.grad_filter_stats()
                w = self.writer
                w.add_scalar("train/loss", loss_acc / utt_acc, state.step)
                w.add_scalar("train/lr", self.scheduler.get_last_lr()[0], state.step)
                w.add_scalar("train/grad_norm", float(grad_norm), state.step)
                w.add_scalar("train/frames_per_sec", frames / (time.time() - t0), state.step)
                w.add_scalar("train/grad_filter_scaled", scaled, state.step)
                w.add_scalar("train/zeroed_utts", state.zeroed_utts, state.step)
                w.add_scalar("train/skipped_steps", state.skipped_steps, state.step)
                bar.set_postfix(loss=f"{loss_acc / utt_acc:.3f}")
                loss_acc, utt_acc = 0.0, 0
        log.info("epoch %d: %d steps so far, %.0f frames/s", state.epoch, state.step,
                 frames / max(1e-9, time.time() - t0))

    def save(self, path: Path) -> None:
        ckpt.save_checkpoint(path, {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "train_state": self.state.state_dict(),
            "rng": {"python": random.getstate(), "numpy": np.random.get_state(),
                    "torch": torch.get_rng_state()},
            "config_hash": config_hash(self.cfg.model),
            "versions": {"torch": torch.__version__},
        })

    def restore(self, payload: dict) -> None:
        if payload.get("config_hash") != config_hash(self.cfg.model):
            raise AsrError(f"{self.exp}: the checkpoint was made with another model "
                           "architecture; use a new --exp-dir")
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.state.load_state_dict(payload["train_state"])
        random.setstate(payload["rng"]["python"])
        np.random.set_state(payload["rng"]["numpy"])
        torch.set_rng_state(payload["rng"]["torch"])

    def run(self) -> None:
        cfg, state = self.cfg, self.state
        ckpt_dir = self.exp / E.CKPT_DIR
        while state.epoch <= cfg.train.epochs:
            t0 = time.time()
            self.train_one_epoch()
            dev_loss, counts = validate(self.model, self.dev_loader, self.tokenizer, self.device)
            self.writer.add_scalar("dev/loss", dev_loss, state.step)
            self.writer.add_scalar("dev/wer", counts.rate, state.step)
            log.info("epoch %d done in %.0f s: dev loss %.4f, dev %%WER %.2f [%d / %d], lr %.2e",
                     state.epoch, time.time() - t0, dev_loss, counts.rate, counts.errors,
                     counts.ref_words, self.scheduler.get_last_lr()[0])
            if dev_loss < state.best_dev_loss:
                state.best_dev_loss, state.best_epoch = dev_loss, state.epoch
            state.epoch += 1
            state.batches_done = 0
            self.save(ckpt_dir / f"epoch-{state.epoch - 1}.pt")
            ckpt.prune(ckpt_dir, cfg.train.keep_last)
        self.write_final()

    def write_final(self) -> None:
        """final.pt: the average of the last ``average_last`` epoch models."""
        paths = [p for _, p in ckpt.epoch_checkpoints(self.exp / E.CKPT_DIR)]
        paths = paths[-self.cfg.train.average_last:]
        ckpt.save_checkpoint(self.exp / E.FINAL, {"model": ckpt.average_state_dicts(paths),
                                                  "averaged": [p.name for p in paths]})
        log.info("wrote %s (average of %s)", self.exp / E.FINAL, ", ".join(p.name for p in paths))


def _loader(dataset: FeatsDataset, sampler: BucketBatchSampler, workers: int,
            seed: int) -> DataLoader:
    g = torch.Generator()  # owned: building the loader does not touch the global RNG
    g.manual_seed(seed)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=workers,
                      generator=g, persistent_workers=False)


def check_resolved_config(exp: Path, cfg: ExperimentConfig) -> None:
    """Resuming with another model architecture is refused with a diff of the configs;
    other changes (more epochs, a new lr) are allowed and logged with their diff."""
    import difflib

    path = exp / E.CONFIG
    if not path.is_file() or not ckpt.epoch_checkpoints(exp / E.CKPT_DIR):
        return
    saved = load_config(ExperimentConfig, path)
    old, new = dump_config(saved), dump_config(cfg)
    if old == new:
        return
    diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                        str(path), "this run's config"))
    if saved.model != cfg.model:
        raise AsrError(f"{exp} holds checkpoints of another model architecture; use a new "
                       f"--exp-dir or delete them. Differences:\n{diff}")
    log.warning("resuming %s with a changed config:\n%s", exp, diff)


def run(cfg: ExperimentConfig, exp: Path, train_dir: Path, dev_dir: Path, lang_dir: Path) -> None:
    """Train (or resume) an experiment in ``exp`` and write final.pt."""
    from torch.utils.tensorboard import SummaryWriter

    exp.mkdir(parents=True, exist_ok=True)
    check_resolved_config(exp, cfg)
    if cfg.train.num_threads > 0:
        torch.set_num_threads(cfg.train.num_threads)
    device = torch.device(resolve_device(cfg.train.device))
    seed_everything(cfg.train.seed)

    E.populate(exp, train_dir, lang_dir)
    save_config(cfg, exp / E.CONFIG)
    tokenizer = load_tokenizer(exp / E.LANG)
    feats_cfg = read_feats_config(exp)
    if read_feats_config(dev_dir) != feats_cfg:
        raise AsrError(f"{dev_dir} features were made with another config than {train_dir}")
    model = build_model(cfg.model, feats_cfg.num_mel_bins, tokenizer.vocab_size).to(device)
    log.info("model: %s\n%d parameters", model, model.num_params())

    train, dev = build_datasets(cfg, exp, train_dir, dev_dir, tokenizer, feats_cfg,
                                model.output_length)
    train_set, dev_set = train.dataset, dev.dataset
    d = cfg.data
    train_sampler = BucketBatchSampler(train.lengths, d.max_frames,
                                       d.max_utts, shuffle=True, seed=cfg.train.seed,
                                       sortagrad=d.sortagrad, pool_batches=d.pool_batches)
    dev_sampler = BucketBatchSampler(dev.lengths, d.max_frames, d.max_utts,
                                     shuffle=False)
    steps_per_epoch = len(train_sampler.batches(2))
    optimizer = build_optimizer(model.parameters(), cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.scheduler, steps_per_epoch * cfg.train.epochs)
    trainer = Trainer(cfg, exp, model, tokenizer, optimizer, scheduler, TrainState(),
                      _loader(train_set, train_sampler, d.num_workers, cfg.train.seed),
                      _loader(dev_set, dev_sampler, d.num_workers, cfg.train.seed),
                      device, SummaryWriter(str(exp / "tensorboard")))
    log.info("%d train utterances (%d batches per epoch), %d dev utterances, %d epochs",
             len(train_set), steps_per_epoch, len(dev_set), cfg.train.epochs)
    found = ckpt.latest_valid(exp / E.CKPT_DIR)
    if found is not None:
        trainer.restore(found[1])
        log.info("resumed from %s at epoch %d", found[0], trainer.state.epoch)
    if trainer.state.epoch > cfg.train.epochs and (exp / E.FINAL).is_file():
        log.info("%s: all %d epochs are done", exp, cfg.train.epochs)
        return
    try:
        trainer.run()
    finally:
        trainer.writer.close()
    if not math.isfinite(trainer.state.best_dev_loss):
        raise AsrError("training finished without a finite dev loss")
