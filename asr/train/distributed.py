"""torch.distributed from torchrun's environment: NCCL on GPU, gloo on CPU.

Every decision that must be the same on all ranks (skip a step, save and stop, abort)
goes through :meth:`Dist.or_over_ranks` so no rank can take a branch the others do not.

A rank that hangs (a stuck file system, a deadlocked data worker) would leave the others
waiting in their next collective for the process group's timeout, torch's default being
30 minutes of paid, idle GPUs; ``train.collective_timeout_s`` sets it. A collective of
:class:`Dist` that times out raises :class:`AsrError` naming the rank and the setting, the
rank exits non-zero, and torchrun stops the others.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as td

from asr.errors import AsrError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")  # where collective tensors live
    timeout_s: float = 0.0  # the process group's collective timeout (0: alone, none)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def per_rank(self, name: str) -> str:
        """``name`` alone, or with ``.rankR`` before its suffix under DDP: a file per rank."""
        if not self.enabled:
            return name
        stem, dot, ext = name.rpartition(".")
        return f"{stem}.rank{self.rank}{dot}{ext}" if dot else f"{name}.rank{self.rank}"

    def or_over_ranks(self, *flags: bool) -> list[bool]:
        """Each flag OR-ed over all ranks, in order (one all-reduce for all of them)."""
        if not self.enabled:
            return [bool(f) for f in flags]
        t = torch.tensor([float(f) for f in flags], device=self.device)
        with self._collective("all_reduce"):
            td.all_reduce(t, op=td.ReduceOp.MAX)
            return [bool(v) for v in t.tolist()]

    def sum_over_ranks(self, values: list[float]) -> list[float]:
        """Each value summed over all ranks, in order (one all-reduce for all of them)."""
        if not self.enabled:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        with self._collective("all_reduce"):
            td.all_reduce(t, op=td.ReduceOp.SUM)
            return t.tolist()

    def gather(self, obj: Any) -> list[Any]:
        """``obj`` of every rank, in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        with self._collective("all_gather_object"):
            td.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.enabled:
            with self._collective("barrier"):
                td.barrier()

    @contextlib.contextmanager
    def _collective(self, name: str) -> Iterator[None]:
        """Turn a failed collective (a timeout, a peer gone) into an error that says which
        rank saw it and which setting bounds the wait; the backend's message follows."""
        try:
            yield
        except RuntimeError as e:  # gloo's and NCCL's errors (DistBackendError) are these
            raise AsrError(f"rank {self.rank} of {self.world_size}: the {name} collective "
                           f"failed within train.collective_timeout_s={self.timeout_s:g}: "
                           "another rank is stuck or dead (its own log says which and why). "
                           f"Backend: {e}") from e


def init_from_env(device: str, timeout_s: float) -> Dist:
    """Join the process group torchrun describes (WORLD_SIZE > 1), else run alone.

    ``device`` is the resolved device kind ("cpu" or "cuda"); each rank takes the GPU
    of its LOCAL_RANK. ``timeout_s`` bounds the rendezvous and every collective, DDP's
    gradient all-reduce included (NCCL's watchdog aborts the process when it passes).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Dist(device=torch.device(device))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda":
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if not td.is_initialized():
        timeout = datetime.timedelta(seconds=timeout_s)
        agent_store = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
        store = td.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]),
                            world_size, is_master=rank == 0 and not agent_store,
                            timeout=timeout, multi_tenant=not agent_store)
        # after torchrun restarts the ranks, keys of the previous attempt (peer addresses
        # of dead processes) must not be read again: one key space per attempt
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        td.init_process_group("nccl" if device == "cuda" else "gloo",
                              store=td.PrefixStore(f"asr/attempt{attempt}", store),
                              rank=rank, world_size=world_size, timeout=timeout)
    log.info("rank %d of %d (local rank %d) on %s", rank, world_size, local_rank, dev)
    return Dist(rank, world_size, local_rank, dev, timeout_s)


def shutdown(dist: Dist) -> None:
    if dist.enabled and td.is_initialized():
        td.destroy_process_group()


def check_replicas_equal(dist: Dist, model: torch.nn.Module) -> None:
    """DDP keeps replicas equal by construction; verify it bit for bit (once an epoch)."""
    if not dist.enabled:
        return
    h = hashlib.sha1()
    for p in model.parameters():
        h.update(p.detach().cpu().numpy().tobytes())
    digests = dist.gather(h.hexdigest())
    if len(set(digests)) != 1:
        raise AsrError(f"DDP ranks hold different parameters: {digests}")
    log.info("parameters identical on all %d ranks (%s)", dist.world_size, digests[0][:12])
