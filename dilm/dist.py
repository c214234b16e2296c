"""Several processes (`torchrun` or `accelerate launch`): who am I, and the few collectives dilm needs.

Both launchers set RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; `init()` joins
the process group from them (NCCL on GPUs, gloo on CPU). Without a launcher everything here is
a no-op for one process, so the single-process code path is the same code.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as tdist


def world_size() -> int:
    return tdist.get_world_size() if tdist.is_initialized() else int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return tdist.get_rank() if tdist.is_initialized() else int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def init() -> None:
    """Join the launcher's process group once (a no-op for a single process)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or tdist.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        backend = "nccl"
    else:
        backend = "gloo"
    tdist.init_process_group(backend, timeout=datetime.timedelta(hours=2))


def shard(items: list, r: int | None = None, n: int | None = None) -> list:
    """Round-robin share of `items` for rank r of n (all of them for one process)."""
    r, n = (rank() if r is None else r), (world_size() if n is None else n)
    return items[r::n]


def barrier() -> None:
    if tdist.is_initialized():
        tdist.barrier()


def all_reduce_grads(params, bucket: int = 1 << 24) -> None:
    """Sum every parameter's gradient over the processes (each process holds its share's term),
    in flat buckets of about `bucket` elements."""
    if not tdist.is_initialized():
        return
    grads = [p.grad for p in params if p.grad is not None]
    group: list[torch.Tensor] = []
    for i, g in enumerate(grads):
        group.append(g)
        if sum(x.numel() for x in group) >= bucket or i == len(grads) - 1:
            flat = torch.cat([x.reshape(-1) for x in group])
            tdist.all_reduce(flat)
            offset = 0
            for x in group:
                x.copy_(flat[offset: offset + x.numel()].view_as(x))
                offset += x.numel()
            group = []


def all_reduce_sum(value: float) -> float:
    """Sum of a number over the processes."""
    if not tdist.is_initialized():
        return value
    t = torch.tensor([float(value)], dtype=torch.float64)
    tdist.all_reduce(t)
    return t.item()


def any_true(flag: bool) -> bool:
    """Whether `flag` is set on any process (e.g. Ctrl-C seen by one of them)."""
    return all_reduce_sum(int(bool(flag))) > 0


def all_gather_objects(obj: Any) -> list[Any]:
    """Every process's `obj`, in rank order ([obj] for one process)."""
    if not tdist.is_initialized():
        return [obj]
    out: list[Any] = [None] * tdist.get_world_size()
    tdist.all_gather_object(out, obj)
    return out


def map_shared(fn: Callable[[int], Any], n: int) -> list[Any]:
    """[fn(0), ..., fn(n - 1)] on every process, each process computing its round-robin share of the
    items (`shard`); the results travel as picklable objects."""
    merged: dict[int, Any] = {}
    for part in all_gather_objects({j: fn(j) for j in shard(list(range(n)))}):
        merged.update(part)
    return [merged[j] for j in range(n)]


def broadcast_object(obj: Any) -> Any:
    """Rank 0's `obj` on every process."""
    if not tdist.is_initialized():
        return obj
    box = [obj]
    tdist.broadcast_object_list(box, src=0)
    return box[0]


def gather_rows(local: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """Concatenate in rank order the (n_r, ...) tensors of all processes (detached; sizes `counts`)."""
    if not tdist.is_initialized():
        return local.detach()
    width = max(counts)
    padded = torch.zeros((width, *local.shape[1:]), dtype=local.dtype, device=local.device)
    padded[: local.shape[0]] = local.detach()
    parts = [torch.empty_like(padded) for _ in counts]
    tdist.all_gather(parts, padded)
    return torch.cat([p[:c] for p, c in zip(parts, counts)])
