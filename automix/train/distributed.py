"""Multi-process training with ``torchrun``: process-group set-up, DistributedDataParallel, reductions.

The same command runs in one process (``python -m automix.train ...``) or in N (``torchrun --nproc-per-node N -m
automix.train ...``; multi-node with ``--nnodes``/``--rdzv-endpoint``). torchrun sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; each rank then takes its slice of every global minibatch (the data contract), DDP averages the
gradients, validation songs are split over the ranks and their losses gathered, and only rank 0 writes files.
Backends: nccl on CUDA, gloo on CPU.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessInfo:
    """Where this process stands in the run: ``rank`` of ``world_size``, its ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """True on the rank that logs and writes files (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"`` -> the device of this process."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda: no CUDA device is available (use --device cpu or auto)")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name != "cpu":
        raise ValueError(f"unknown device {name!r}; expected auto, cpu or cuda")
    return torch.device("cpu")


def setup(device_name: str = "auto", timeout_minutes: float = 30.0) -> ProcessInfo:
    """Join the process group when started by torchrun (``WORLD_SIZE`` > 1); otherwise a single process.

    Args:
        device_name: ``auto``, ``cpu`` or ``cuda``.
        timeout_minutes: collective timeout (validation on one rank may take minutes while the others wait).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=timeout_minutes))
        logger.info("rank %d/%d joined the %s process group on %s", rank, world_size, backend, device)
    return ProcessInfo(rank, world_size, local_rank, device)


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: torch.nn.Module, info: ProcessInfo, find_unused_parameters: bool = False) -> torch.nn.Module:
    """``DistributedDataParallel(model)`` when several processes run, else ``model`` itself."""
    if not info.distributed:
        return model
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids,
                                                     find_unused_parameters=find_unused_parameters)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The network inside a DDP wrapper (whose state_dict has no ``module.`` prefix)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def all_gather_objects(value, info: ProcessInfo) -> list:
    """``[value of rank 0, value of rank 1, ...]`` (a one-item list in a single process)."""
    if not info.distributed:
        return [value]
    gathered = [None] * info.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def all_reduce_sum(values: list[float], info: ProcessInfo) -> list[float]:
    """Element-wise sum of ``values`` over the ranks (float64)."""
    if not info.distributed:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=info.device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def broadcast_object(value, info: ProcessInfo):
    """Rank 0's ``value`` on every rank."""
    if not info.distributed:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def barrier(info: ProcessInfo) -> None:
    if info.distributed:
        dist.barrier()
