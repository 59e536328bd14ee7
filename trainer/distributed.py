"""The processes of one training run under torchrun, and what they must agree on.

One process is the world of size 1 and every verb is then a no-op, so the
training loop reads the same either way. Backends: nccl on GPUs, gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from abcgen.runtime.errors import AbcgenError


@dataclass
class World:
    """This process's place among the torchrun processes (one process: rank 0 of 1)."""

    device: torch.device
    rank: int = 0
    size: int = 1

    @classmethod
    def start(cls, wanted: str, threads: int) -> World:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if wanted == "cuda" and not torch.cuda.is_available():
            raise AbcgenError("--device cuda: no CUDA GPU is visible to torch")
        cuda = wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available())
        if cuda:
            device = torch.device("cuda", local % torch.cuda.device_count())
            torch.cuda.set_device(device)
        else:
            device = torch.device("cpu")
            # Oversubscribed OpenMP threads spin against each other: give each process
            # its share of the cores, no more.
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
            per_node = int(os.environ.get("LOCAL_WORLD_SIZE", size))
            torch.set_num_threads(threads or max(1, cores // per_node))
        if size == 1:
            return cls(device)
        dist.init_process_group("nccl" if cuda else "gloo", device_id=device if cuda else None)
        return cls(device, dist.get_rank(), size)

    def stop(self) -> None:
        if self.size > 1 and dist.is_initialized():
            dist.destroy_process_group()

    @property
    def _comm(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        """[processes, *t.shape] on the CPU."""
        if self.size == 1:
            return t.detach().cpu()[None]
        parts = [torch.empty_like(t, device=self._comm) for _ in range(self.size)]
        dist.all_gather(parts, t.detach().to(self._comm).contiguous())
        return torch.stack(parts).cpu()

    def sum(self, *values: float) -> list[float]:
        if self.size == 1:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self._comm)
        dist.all_reduce(t)
        return t.tolist()

    def mean(self, *values: float) -> list[float]:
        return [v / self.size for v in self.sum(*values)]

    def agree(self, *values: float) -> list[float]:
        """Process 0's values (its clock, its decisions: clocks differ between
        processes), for all of them."""
        if self.size == 1:
            return [float(v) for v in values]
        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self._comm)
        dist.broadcast(t, 0)
        return t.tolist()

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()
