"""The one torchrun / DDP set-up of both trainers; a single process when not launched by torchrun.

Under ``torchrun`` the environment carries ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; the process
group uses gloo on the CPU and nccl on CUDA (one GPU per local rank). Without it every helper
degrades to rank 0 of 1. Only rank 0 (:func:`is_main`) writes the run directory. This is the only
module in ``core`` that calls ``init_process_group``.
"""

from __future__ import annotations

import importlib
import os

import torch
import torch.distributed as dist


def init_from_env(device_name: str = "auto") -> bool:
    """Join the process group when launched by torchrun with more than one process.

    Returns True when a process group is (now) initialised.
    """
    if not dist.is_available():
        return False
    if dist.is_initialized():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    use_cuda = torch.cuda.is_available() and str(device_name) != "cpu"
    if use_cuda:  # nccl collectives run on the current device: one GPU per local rank
        torch.cuda.set_device(local_rank())
    # torch._dynamo (imported by the first optimiser step) keeps references to the process group
    # when it is imported after init_process_group; destroy_process_group then leaves gloo's threads
    # running until exit, where they race the process teardown (a rank once aborted after a finished
    # run: "terminate called without an active exception"). Imported first, it holds none.
    importlib.import_module("torch._dynamo")
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return True


def shutdown() -> None:
    """Leave the process group (no-op in a single process)."""
    if is_distributed():
        dist.destroy_process_group()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """Only rank 0 writes the run directory."""
    return rank() == 0


def local_device(device: torch.device) -> torch.device:
    """On CUDA each local rank takes its own GPU (an explicit ``cuda:N`` is kept in a single process)."""
    if device.type == "cuda" and is_distributed():
        return torch.device("cuda", local_rank())
    return device


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks (identity in a single process). Works on a float64 copy, returned on ``tensor``'s device."""
    out = tensor.detach().to(torch.float64).clone()
    if is_distributed():
        # nccl reduces CUDA tensors only (sums built on the CPU must move), gloo CPU tensors
        nccl = dist.get_backend() == "nccl"
        backend_device = torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")
        moved = out.to(backend_device)
        dist.all_reduce(moved, op=dist.ReduceOp.SUM)
        out = moved.to(tensor.device)
    return out


def all_sum(values: list[float]) -> list[float]:
    """Element-wise sum of plain numbers over ranks (float64)."""
    if not is_distributed():
        return list(values)
    return all_reduce_sum(torch.tensor(values, dtype=torch.float64)).tolist()


def barrier() -> None:
    if is_distributed():
        dist.barrier()
