"""Selection maths: K-means, K-centers (real sample nearest each centroid), herding, random.

All functions take a (n, d) float tensor of features and return row indices.
"""

from __future__ import annotations

from typing import Callable

import torch

from dilm.errors import DilmError, unknown_name


def kmeans(x: torch.Tensor, k: int, seed: int = 0, iters: int = 50, tol: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's K-means with k-means++ seeding.

    Returns:
        centroids (k, d) and assignment (n,) of each row to a centroid.
    """
    n = x.shape[0]
    if k > n:
        raise DilmError(f"cannot pick {k} centers from {n} samples")
    x = x.float()
    gen = torch.Generator().manual_seed(seed)
    x_sq = (x * x).sum(1)
    centroids = x[torch.randint(n, (1,), generator=gen)]
    dist = _sq_dist(x, x_sq, centroids).squeeze(1)
    for _ in range(1, k):  # k-means++: next center with probability ~ squared distance
        probs = dist.clamp_min(0)
        nxt = torch.multinomial(probs / probs.sum(), 1, generator=gen) if probs.sum() > 0 else \
            torch.randint(n, (1,), generator=gen)
        centroids = torch.cat([centroids, x[nxt]])
        dist = torch.minimum(dist, _sq_dist(x, x_sq, x[nxt]).squeeze(1))
    assign = torch.zeros(n, dtype=torch.long)
    for _ in range(iters):
        assign = _sq_dist(x, x_sq, centroids).argmin(1)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1).float()
        moved = torch.where(counts > 0, sums / counts.clamp_min(1), centroids)
        shift = (moved - centroids).pow(2).sum()
        centroids = moved
        if shift <= tol:
            break
    assign = _sq_dist(x, x_sq, centroids).argmin(1)
    return centroids, assign


def _sq_dist(x: torch.Tensor, x_sq: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """(n, k) squared Euclidean distances, in chunks-free matmul form."""
    return (x_sq.unsqueeze(1) - 2 * x @ c.T + (c * c).sum(1).unsqueeze(0)).clamp_min(0)


def kcenters(x: torch.Tensor, k: int, seed: int = 0) -> list[int]:
    """K-means with k clusters; keep the real row nearest each centroid (k distinct rows)."""
    centroids, _ = kmeans(x, k, seed)
    d = _sq_dist(x.float(), (x.float() ** 2).sum(1), centroids)  # (n, k)
    chosen: list[int] = []
    for j in range(k):
        order = d[:, j].argsort()
        pick = next(int(i) for i in order if int(i) not in chosen)
        chosen.append(pick)
    return chosen


def herding(x: torch.Tensor, k: int, seed: int = 0) -> list[int]:
    """Greedy mean matching (Welling 2009): each pick brings the running mean closest to the data mean."""
    if k > x.shape[0]:
        raise DilmError(f"cannot pick {k} samples from {x.shape[0]}")
    x = x.float()
    mu = x.mean(0)
    chosen: list[int] = []
    total = torch.zeros_like(mu)
    available = torch.ones(x.shape[0], dtype=torch.bool)
    for t in range(1, k + 1):
        gap = ((total.unsqueeze(0) + x) / t - mu).pow(2).sum(1)
        gap[~available] = float("inf")
        i = int(gap.argmin())
        chosen.append(i)
        available[i] = False
        total += x[i]
    return chosen


def random_subset(x: torch.Tensor, k: int, seed: int = 0) -> list[int]:
    if k > x.shape[0]:
        raise DilmError(f"cannot pick {k} samples from {x.shape[0]}")
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(x.shape[0], generator=gen)[:k].tolist()


SELECTORS: dict[str, Callable[[torch.Tensor, int, int], list[int]]] = {
    "random": random_subset,
    "kcenters": kcenters,
    "herding": herding,
}


def select(method: str, x: torch.Tensor, k: int, seed: int = 0) -> list[int]:
    if method not in SELECTORS:
        raise unknown_name("selection method", method, SELECTORS)
    return SELECTORS[method](x, k, seed)
