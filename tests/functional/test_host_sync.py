"""The training step makes the host wait on the device once: the finite check.

A CUDA sync-debug mode cannot run on CPU, so this counts the Python-level reads of tensor
values (item, tolist, bool/float/int, cpu, numpy, nonzero) that one real training step
(:meth:`Trainer.train_step` of a Conformer with GradientFilters) makes.
"""

from __future__ import annotations

import dataclasses
import traceback

import pytest
import torch

from asr.config.model_schema import (
    ConformerConfig,
    Conv2dFrontendConfig,
    GradFilterConfig,
    ModelConfig,
)
from asr.config.schema import DataConfig, ExperimentConfig, TrainConfig
from asr.data.collate import collate
from asr.train.distributed import Dist
from asr.train.runner import build_trainer

# Reads of a tensor's value on the host; on CUDA each waits for the queued kernels.
SYNCING = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "cpu", "numpy",
           "nonzero")


def count_syncs(monkeypatch, fn) -> list[str]:
    """Run ``fn``; the places (file:line of the caller) where a tensor's value was read.

    Reads inside torch.optim are not counted: with ``capturable=False`` (the default) the
    optimizers keep their step counters on the CPU, so reading them never waits."""
    seen: list[str] = []

    def wrap(name):
        real = getattr(torch.Tensor, name)

        def counted(self, *args, **kwargs):
            caller = traceback.extract_stack(limit=2)[0]
            if "torch/optim/" not in caller.filename:
                seen.append(f"{name} at {caller.filename}:{caller.lineno}")
            return real(self, *args, **kwargs)

        return counted

    for name in SYNCING:
        monkeypatch.setattr(torch.Tensor, name, wrap(name))
    fn()
    monkeypatch.undo()
    return seen


@pytest.fixture(scope="module")
def trainer(corpus, tmp_path_factory):
    model = ModelConfig(frontend=Conv2dFrontendConfig(channels=8, output_dim=32),
                        encoder=ConformerConfig(d_model=32, num_layers=2, num_heads=4,
                                                ff_dim=64, kernel_size=5,
                                                grad_filter=GradFilterConfig(True)))
    cfg = ExperimentConfig(model=model, data=DataConfig(max_frames=600),
                           train=TrainConfig(device="cpu", log_interval=10**6))
    return build_trainer(cfg, tmp_path_factory.mktemp("sync") / "exp", corpus / "train",
                         corpus / "dev", corpus / "lang", Dist())


@pytest.mark.parametrize("accum_grad", [1, 2])
def test_one_training_step_reads_the_device_once(trainer, monkeypatch, accum_grad):
    trainer.cfg = dataclasses.replace(trainer.cfg, train=dataclasses.replace(
        trainer.cfg.train, accum_grad=accum_grad))
    batches = iter(trainer.train_loader)
    group = [next(batches) for _ in range(accum_grad)]
    trainer.model.train()
    step_before = trainer.state.step
    syncs = count_syncs(monkeypatch, lambda: trainer.train_step(group))
    assert trainer.state.step == step_before + 1  # a real step was taken
    assert len(syncs) <= 1, syncs
    scaled, seen = trainer.core.grad_filter_stats()  # GradientFilters ran, counted on device
    assert seen > 0 and isinstance(scaled, int)


def test_the_data_loader_pins_batches(monkeypatch):
    """DataLoader(pin_memory=True) pins only objects with a pin_memory method."""
    from torch.utils.data._utils.pin_memory import pin_memory

    batch = collate([("a", torch.randn(5, 3), torch.tensor([1, 2]), "x y"),
                     ("b", torch.randn(4, 3), torch.tensor([3]), "z")])
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda t, *a, **k: t.clone())
    pinned = pin_memory(batch)
    assert type(pinned) is type(batch) and pinned.feats is not batch.feats
    assert torch.equal(pinned.feats, batch.feats) and pinned.num_frames == 9
