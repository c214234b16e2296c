"""The data-parallel pieces of the pipeline, equal to one process's result for any process count.

Sampling: `n` samples are drawn in fixed chunks, chunk j from its own RNG seeded with
(seed, j); processes take chunks round-robin and gather them in chunk order. The samples
depend on the seed and the chunk size only, not on how many processes drew them.

Gradients: each process backpropagates its share of a loss whose terms are divided by the
global count; summing the gradients over processes (`dist.all_reduce_grads`) gives the
gradient of the whole loss.
"""

from __future__ import annotations

import hashlib

import torch

from dilm import dist
from dilm.generator import Generator


def chunk_seed(seed: int | str, j: int) -> int:
    """A 63-bit seed for chunk j of a draw seeded with `seed` (stable across processes and runs)."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{j}".encode()).digest()[:8], "little") >> 1


def sample_parallel(gen: Generator, label: int, n: int, seed: int | str, chunk: int = 64, top_p: float = 0.95,
                    max_new_tokens: int = 48, precision: str = "auto",
                    max_dropped_ratio: int = 20) -> tuple[list[list[int]], int]:
    """n parseable samples of class `label` (as `Generator.sample`), drawn in seeded chunks that are
    shared out over the processes; every process returns all n, in the same order."""
    sizes = [min(chunk, n - i) for i in range(0, n, chunk)]
    dev = next(gen.model.parameters()).device

    def draw(j: int) -> tuple[list[list[int]], int]:
        rng = torch.Generator(device=dev).manual_seed(chunk_seed(seed, j))
        return gen.sample(label, sizes[j], top_p, max_new_tokens, batch_size=chunk,
                          max_dropped_ratio=max_dropped_ratio, precision=precision, rng=rng)

    parts = dist.map_shared(draw, len(sizes))
    return [s for seqs, _ in parts for s in seqs], sum(dropped for _, dropped in parts)


def local_rows(n: int) -> list[int]:
    """This process's rows of an n-row batch (round-robin)."""
    return dist.shard(list(range(n)))


def assemble(local: torch.Tensor, n: int) -> torch.Tensor:
    """The (n,) vector of all processes' values of a per-row quantity, rows in batch order.

    Other processes' values are constants; this process's rows keep their autograd graph, so a
    loss of the whole vector backpropagates into this process's share only.
    """
    if dist.world_size() == 1:
        return local
    counts = [len(range(r, n, dist.world_size())) for r in range(dist.world_size())]
    parts = dist.gather_rows(local, counts).split(counts)
    full = torch.empty(n, dtype=local.dtype, device=local.device)
    for r, part in enumerate(parts):
        full[r::dist.world_size()] = part
    mine = torch.arange(dist.rank(), n, dist.world_size(), device=local.device)
    return full.index_copy(0, mine, local)
