"""``asr train``: build everything a :class:`Trainer` needs, resume, run, clean up."""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
from pathlib import Path

import torch

from asr.config import dump_config, load_config, save_config
from asr.config.schema import ExperimentConfig, RunConfig
from asr.data.features import read_feats_config
from asr.data.pipeline import Ranks, build_datasets
from asr.device import flush_denormals, resolve_device
from asr.errors import AsrError, ConfigError
from asr.exp import layout
from asr.exp.experiment import Experiment, populate
from asr.train import checkpoint as ckpt
from asr.train import signals
from asr.train.distributed import Dist, init_from_env, shutdown
from asr.train.loop import Trainer
from asr.train.optim import build_optimizer, build_scheduler
from asr.train.resume import resume_or_init
from asr.train.rng import seed_everything
from asr.train.run_info import run_info
from asr.train.state import TrainState

log = logging.getLogger(__name__)


def check_resolved_config(exp: Path, cfg: ExperimentConfig) -> None:
    """Resuming with another model architecture is refused with a diff of the configs;
    other changes (more epochs, a new lr) are allowed and logged with their diff. The
    ``run:`` section (paths, command, revision) is a record, not a setting: not compared."""
    path = exp / layout.CONFIG
    if not path.is_file() or not ckpt.exists(exp / layout.CKPT_DIR):
        return
    saved = load_config(ExperimentConfig, path)
    old, new = (dump_config(dataclasses.replace(c, run=RunConfig())) for c in (saved, cfg))
    if old == new:
        return
    diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                        str(path), "this run's config"))
    if saved.model != cfg.model:
        raise AsrError(f"{exp} holds checkpoints of another model architecture; use a new "
                       f"--exp-dir or delete them. Differences:\n{diff}")
    log.warning("resuming %s with a changed config:\n%s", exp, diff)


def _check_amp(cfg: ExperimentConfig, device: str) -> None:
    if cfg.train.amp == "fp16" and device != "cuda":
        raise ConfigError("train.amp=fp16 needs a CUDA device (use bf16 or none on CPU)")
    if cfg.train.amp == "bf16" and device == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError("train.amp=bf16: this GPU has no bfloat16 support; use fp16")


def build_trainer(cfg: ExperimentConfig, exp: Path, train_dir: Path, dev_dir: Path,
                  lang_dir: Path, dist: Dist) -> Trainer:
    """Model, data, optimizer and state for ``exp``, resumed from its newest valid checkpoint."""
    from torch.utils.tensorboard import SummaryWriter

    device = dist.device
    seed_everything(cfg.train.seed)
    (exp / layout.LOG_DIR).mkdir(parents=True, exist_ok=True)
    if dist.is_main:
        populate(exp, train_dir, lang_dir)
        save_config(cfg, exp / layout.CONFIG)
        ckpt.remove_temp_files(exp / layout.CKPT_DIR)
    dist.barrier()
    # the model is built from the exp dir just written, exactly as decoding will build it
    experiment = Experiment.load(exp)
    tokenizer, feats_cfg = experiment.tokenizer, experiment.feats
    if read_feats_config(dev_dir) != feats_cfg:
        raise AsrError(f"{dev_dir} features were made with another config than {train_dir}")
    model = experiment.build_model().to(device)
    if dist.is_main:
        log.info("model: %s\n%d parameters", model, model.num_params())

    train, dev = build_datasets(cfg, exp / layout.CMVN, train_dir, dev_dir, tokenizer,
                                feats_cfg, model.output_length, Ranks(dist.rank, dist.world_size))
    d = cfg.data
    batches_per_epoch = len(train.plan.batches(2))
    if batches_per_epoch == 0:
        raise AsrError(f"{train_dir}: fewer batches than the {dist.world_size} ranks")
    steps_per_epoch = math.ceil(batches_per_epoch / cfg.train.accum_grad)
    _check_warmup(cfg, steps_per_epoch)

    if dist.enabled:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dist.local_rank] if device.type == "cuda" else None)
    optimizer = build_optimizer(model.parameters(), cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.scheduler, steps_per_epoch * cfg.train.epochs)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.train.amp == "fp16")
    g = torch.Generator()  # owned: building and iterating loaders never touches the global RNG
    g.manual_seed(cfg.train.seed)

    pin = device.type == "cuda"
    writer = SummaryWriter(str(exp / layout.TENSORBOARD_DIR)) if dist.is_main else None
    trainer = Trainer(cfg=cfg, exp=exp, model=model, tokenizer=tokenizer, optimizer=optimizer,
                      scheduler=scheduler, scaler=scaler, state=TrainState(),
                      train_loader=train.loader(d.num_workers, g, pin), sampler=train.plan,
                      dev_loader=dev.loader(d.num_workers, g, pin), loader_generator=g,
                      device=device, writer=writer, dist=dist)
    log.info("%d train utterances (%d batches, %d steps per epoch on each of %d ranks), "
             "%d dev utterances, %d epochs", train.num_utterances, batches_per_epoch,
             steps_per_epoch, dist.world_size, dev.num_utterances, cfg.train.epochs)
    resume_or_init(trainer)
    return trainer


def _check_warmup(cfg: ExperimentConfig, steps_per_epoch: int) -> None:
    """Warn when the warmup outlasts the run: the lr never reaches optim.lr (and a
    warmup_cosine never decays). The step count needs the data, so this is no config error."""
    total = steps_per_epoch * cfg.train.epochs
    if cfg.scheduler.warmup_steps >= total:
        log.warning("scheduler.warmup_steps is %d but the run has %d optimizer steps "
                    "(train.epochs %d x %d per epoch with train.accum_grad %d): the lr never "
                    "reaches optim.lr %g%s; lower scheduler.warmup_steps (e.g. to %d) or train "
                    "longer", cfg.scheduler.warmup_steps, total, cfg.train.epochs,
                    steps_per_epoch, cfg.train.accum_grad, cfg.optim.lr,
                    " and the cosine never decays" if cfg.scheduler.name == "warmup_cosine"
                    else "", max(1, total // 10))


def _check_init_from(cfg: ExperimentConfig, exp: Path) -> None:
    """A new run's train.init_from file must exist: checked before any data is read."""
    path = cfg.train.init_from
    if path and not ckpt.exists(exp / layout.CKPT_DIR) and not Path(path).is_file():
        raise ConfigError(f"train.init_from: {path}: no such file (relative paths start at "
                          f"{Path.cwd()}); give a model file such as another exp's final.pt, "
                          "or train.init_from='' to start from random parameters")


def run(cfg: ExperimentConfig, exp: Path, train_dir: Path, dev_dir: Path,
        lang_dir: Path, command: str = "") -> int:
    """Train (or resume) ``exp`` and write final.pt. Returns 0 when done, or
    :data:`signals.REQUEUE_EXIT_CODE` after a preemption signal was handled. The resolved
    config records the dirs, ``command`` and the code revision in its ``run:`` section."""
    exp.mkdir(parents=True, exist_ok=True)
    cfg = dataclasses.replace(cfg, run=run_info(train_dir, dev_dir, lang_dir, command))
    check_resolved_config(exp, cfg)
    if cfg.train.num_threads > 0:
        torch.set_num_threads(cfg.train.num_threads)
    # denormal floats take a slow path on x86 CPUs: an LSTM on CTC's blank plateau made
    # them and ran 6x slower (0.57 against 3.6 s for 5 steps, RESULTS of speech_commands)
    flush_denormals()
    device = resolve_device(cfg.train.device)
    _check_amp(cfg, device)
    _check_init_from(cfg, exp)
    dist = init_from_env(device, cfg.train.collective_timeout_s)
    signals.install()  # after joining the group: a rank stuck there can still be stopped
    try:
        trainer = build_trainer(cfg, exp, train_dir, dev_dir, lang_dir, dist)
        if trainer.state.epoch > cfg.train.epochs and (exp / layout.FINAL).is_file():
            log.info("%s: all %d epochs are done", exp, cfg.train.epochs)
            return 0
        try:
            trainer.run()
        except signals.Preempted:
            return signals.REQUEUE_EXIT_CODE
        finally:
            if trainer.writer is not None:
                trainer.writer.close()
        if not math.isfinite(trainer.state.best_dev_loss):
            raise AsrError("training finished without a finite dev loss")
        return 0
    finally:
        signals.uninstall()
        shutdown(dist)
