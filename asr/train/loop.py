"""The training loop: train_step, train_one_epoch, run (compute_loss and validate are in
:mod:`asr.train.validation`).

Kept short enough to read in one sitting. Trade-offs, stated:
- the loss is summed over the batch and divided by its utterance count, so utterances
  weigh the same whatever their length (ESPnet's choice; icefall divides by frames);
- the dropout RNG is reseeded from (seed, epoch, rank) at each epoch start and saved in
  every checkpoint, so a resumed run draws exactly what an uninterrupted one would;
- checkpoints and preemption happen only at optimizer-step boundaries: the state saved is
  always "these batches are done, the next one is not started";
- every branch that must match across DDP ranks (skip, save and stop, abort) is decided
  by one all-reduce per step, so no rank can wait on a collective the others skipped.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from asr.atomic_io import atomic_write_text
from asr.config.schema import ExperimentConfig
from asr.data.collate import Batch
from asr.data.pipeline import BatchPlan
from asr.data.tokenizer import Tokenizer
from asr.errors import AsrError
from asr.exp import layout
from asr.nn.model import CTCModel
from asr.train import checkpoint as ckpt
from asr.train import signals
from asr.train.distributed import Dist, check_replicas_equal
from asr.train.resume import training_payload
from asr.train.rng import dropout_seed, epoch_seed
from asr.train.state import TrainState
from asr.train.validation import compute_loss, validate

log = logging.getLogger(__name__)
@dataclass(frozen=True)
class StepResult:
    """What one optimizer step did: its summed loss over ``utts`` utterances and ``frames``
    input frames, the gradient norm before clipping, whether the step was skipped (a
    non-finite loss or norm), and whether a preemption signal asks the run to stop."""

    loss_sum: float
    utts: int
    frames: int
    grad_norm: float
    skipped: bool
    stop: bool


@dataclass(kw_only=True)
class Trainer:
    cfg: ExperimentConfig
    exp: Path
    model: torch.nn.Module  # the CTCModel, or its DistributedDataParallel wrapper
    tokenizer: Tokenizer
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    state: TrainState
    train_loader: DataLoader
    sampler: BatchPlan  # which batches train_loader yields, from which position
    dev_loader: DataLoader
    loader_generator: torch.Generator
    device: torch.device
    writer: object | None  # TensorBoard, on rank 0 only
    dist: Dist = field(default_factory=Dist)
    skipped_batches: list[str] = field(default_factory=list)  # utt ids of recent skips

    @property
    def core(self) -> CTCModel:
        return getattr(self.model, "module", self.model)

    @property
    def ckpt_dir(self) -> Path:
        return self.exp / layout.CKPT_DIR

    def train_step(self, group: list[Batch]) -> StepResult:
        """One optimizer step over ``group`` (accum_grad batches): the parameters are
        untouched when the loss or the all-reduced gradient norm is not finite.

        The host waits on the device once per step: loss, gradient norm and zeroed count
        are read together for the finite check, which must decide on the host whether the
        optimizer steps. Everything else stays on the device, so on CUDA the host queues
        the next batch's copies and kernels while this one computes. (With amp=fp16 the
        GradScaler reads its own inf flag in ``step``: one more wait, torch's.)"""
        cfg, state, model = self.cfg.train, self.state, self.model
        self.optimizer.zero_grad(set_to_none=True)
        losses, zeroed_counts, utts, frames = [], [], 0, 0
        for i, batch in enumerate(group):
            utts += len(batch.utt_ids)
            frames += batch.num_frames
            state.skipped_utts += len(batch.skipped)
            batch = batch.to(self.device)
            last = i == len(group) - 1
            sync = contextlib.nullcontext() if last or not self.dist.enabled else model.no_sync()
            with sync:
                loss, z = compute_loss(model, batch, cfg.amp, self.cfg.loss)
                self.scaler.scale(loss / len(batch.utt_ids) / len(group)).backward()
            losses.append(loss.detach())
            zeroed_counts.append(z)
        self.scaler.unscale_(self.optimizer)
        # DDP has all-reduced the gradients, so this norm is the same on every rank
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
        # float64: the loss sum as exact as a Python sum; counts exact far beyond a batch
        loss_sum, grad_norm, zeroed = torch.stack(
            [torch.stack(losses).double().sum(), norm.to(losses[0].device, torch.float64),
             torch.stack(zeroed_counts).sum().double()]).tolist()  # the one host sync
        zeroed = int(zeroed)
        finite = math.isfinite(loss_sum) and math.isfinite(grad_norm)
        bad, stop = self.dist.or_over_ranks(not finite, signals.requested())
        state.zeroed_utts += zeroed
        state.batches_done += len(group)
        if not bad:
            self.scaler.step(self.optimizer)
            self.scheduler.step()
            state.step += 1
            state.consecutive_skips = 0
            self.skipped_batches.clear()
        else:  # the step is counted, not taken
            self.optimizer.zero_grad(set_to_none=True)
            state.skipped_steps += 1
            state.consecutive_skips += 1
            self.skipped_batches += [f"epoch {state.epoch} batch {state.batches_done}: "
                                     + " ".join(b.utt_ids) for b in group]
        self.scaler.update()
        if state.consecutive_skips >= cfg.max_consecutive_skips:
            self._abort_non_finite()
        self._log_batches(group)
        return StepResult(loss_sum, utts, frames, grad_norm, bool(bad), bool(stop))

    def _abort_non_finite(self) -> None:
        path = self.exp / self.dist.per_rank("nonfinite_batches.txt")
        atomic_write_text(path, "\n".join(self.skipped_batches) + "\n")
        found = ckpt.infos_by_progress(self.ckpt_dir)  # metadata only: this names the file
        raise AsrError(f"{self.state.consecutive_skips} optimizer steps in a row had a "
                       f"non-finite loss or gradient norm; their utterance ids are in {path}. "
                       f"The last checkpoint ({found[-1].path if found else 'none'}) is intact: "
                       "lower the lr, check those utterances, or use train.amp=bf16 "
                       "instead of fp16")

    def _log_batches(self, group: list[Batch]) -> None:
        if not self.cfg.train.log_batches:
            return
        with open(self.exp / "log" / self.dist.per_rank("batches.txt"), "a",
                  encoding="utf-8") as f:
            first = self.state.batches_done - len(group)
            for k, b in enumerate(group):
                f.write(f"{self.state.epoch} {first + k} {' '.join(b.utt_ids)}\n")

    def train_one_epoch(self) -> bool:
        """The rest of epoch ``state.epoch`` from batch ``state.batches_done`` on; True when
        it stopped early on a stop request (:meth:`run` saves)."""
        cfg, state = self.cfg.train, self.state
        self.sampler.set_epoch(state.epoch, start=state.batches_done)
        self.train_loader.dataset.set_epoch(state.epoch)
        self.loader_generator.manual_seed(epoch_seed(cfg.seed, state.epoch))
        if state.batches_done == 0:  # else the checkpoint restored the RNG mid-epoch
            torch.manual_seed(dropout_seed(cfg.seed, state.epoch, self.dist.rank))
        self.model.train()
        remaining = len(self.sampler)
        acc = {"loss_sum": 0.0, "utts": 0, "frames": 0}
        t0, frames_total, updates = time.time(), 0, 0
        bar = tqdm(total=remaining, desc=f"epoch {state.epoch}", unit="batch",
                   disable=None if self.dist.is_main else True,
                   mininterval=1 if sys.stderr.isatty() else 30, leave=False)
        group: list[Batch] = []
        for batch in self.train_loader:
            group.append(batch)
            remaining -= 1
            # gradient accumulation groups stay aligned with the epoch start, so a resume
            # at a step boundary sees the same groups
            if len(group) < cfg.accum_grad and remaining > 0:
                continue
            out = self.train_step(group)
            bar.update(len(group))
            group = []
            updates += 1
            frames_total += out.frames
            for k in acc:
                acc[k] += getattr(out, k)
            if updates % cfg.log_interval == 0:
                self._log_scalars(acc, out.grad_norm, frames_total / (time.time() - t0))
                bar.set_postfix(loss=f"{acc['loss_sum'] / acc['utts']:.3f}")
                acc = {"loss_sum": 0.0, "utts": 0, "frames": 0}
            if out.stop:
                return True
            if cfg.save_every_steps and not out.skipped \
                    and state.step % cfg.save_every_steps == 0:
                self.save(self.ckpt_dir / f"checkpoint-{state.step}.pt")
        bar.close()
        log.info("epoch %d: %d steps so far, %.0f frames/s", state.epoch, state.step,
                 frames_total / max(1e-9, time.time() - t0))
        return False

    def _log_scalars(self, acc: dict, grad_norm: float, frames_per_sec: float) -> None:
        if self.writer is None:
            return
        scaled, _ = self.core.grad_filter_stats()
        w, step, state = self.writer, self.state.step, self.state
        w.add_scalar("train/loss", acc["loss_sum"] / max(1, acc["utts"]), step)
        w.add_scalar("train/lr", self.scheduler.get_last_lr()[0], step)
        w.add_scalar("train/grad_norm", grad_norm, step)
        w.add_scalar("train/frames_per_sec", frames_per_sec * self.dist.world_size, step)
        w.add_scalar("train/grad_filter_scaled", scaled, step)
        w.add_scalar("train/zeroed_utts", state.zeroed_utts, step)
        w.add_scalar("train/skipped_steps", state.skipped_steps, step)
        w.add_scalar("train/skipped_utts", state.skipped_utts, step)
        if self.scaler.is_enabled():
            w.add_scalar("train/grad_scale", self.scaler.get_scale(), step)

    def save(self, path: Path, dev_loss: float | None = None) -> None:
        """Every rank's RNG goes into the file; rank 0 writes it; all ranks wait for it."""
        payload = training_payload(self, dev_loss)  # a collective: every rank takes part
        if self.dist.is_main:
            ckpt.save_checkpoint(path, payload)
            c = self.cfg.train
            ckpt.prune(self.ckpt_dir, c.keep_last, c.keep_best, c.keep_last_steps, path)
        self.dist.barrier()

    def run(self) -> None:
        """Train the remaining epochs. A stop request (a signal on any rank) is honoured
        here only: save where training stands and raise :class:`signals.Preempted`."""
        while self.state.epoch <= self.cfg.train.epochs:
            t0 = time.time()
            if self.train_one_epoch() or self.end_epoch(t0):
                state = self.state
                self.save(self.ckpt_dir / f"checkpoint-{state.step}.pt")
                log.warning("preempted (%s): saved at epoch %d batch %d, step %d; exiting "
                            "with code %d so the job is requeued", signals.describe(),
                            state.epoch, state.batches_done, state.step,
                            signals.REQUEUE_EXIT_CODE)
                raise signals.Preempted
        if self.dist.is_main:
            self.write_final()

    def end_epoch(self, t0: float) -> bool:
        """Validate, log (the epoch began at ``t0``), save the epoch's checkpoint; True on a
        stop request."""
        state = self.state
        dev_loss, counts, stop = validate(self.core, self.dev_loader, self.tokenizer,
                                          self.device, self.dist)
        if stop:
            return True
        check_replicas_equal(self.dist, self.core)
        if self.writer is not None:
            self.writer.add_scalar("dev/loss", dev_loss, state.step)
            self.writer.add_scalar("dev/wer", counts.rate, state.step)
        log.info("epoch %d done in %.0f s: dev loss %.4f, dev %%WER %.2f [%d / %d], "
                 "lr %.2e, %d skipped steps", state.epoch, time.time() - t0, dev_loss,
                 counts.rate, counts.errors, counts.ref_tokens,
                 self.scheduler.get_last_lr()[0], state.skipped_steps)
        if dev_loss < state.best_dev_loss:
            state.best_dev_loss, state.best_epoch = dev_loss, state.epoch
        state.epoch += 1
        state.batches_done = 0
        self.save(self.ckpt_dir / f"epoch-{state.epoch - 1}.pt", dev_loss)
        return self.dist.or_over_ranks(signals.requested())[0]

    def write_final(self) -> None:
        """final.pt: the average of the last ``average_last`` epoch models; fewer left on
        disk are averaged with a warning, so a finished run always leaves final.pt."""
        ckpt.write_final_average(self.exp / layout.FINAL, self.ckpt_dir, self.state.epoch - 1,
                                 self.cfg.train.average_last, self.core.state_dict())
