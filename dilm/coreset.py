"""Selection maths: K-means, K-centers (real sample nearest each centroid), herding, random.

All functions take a (n, d) float tensor of features and return row indices.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from dilm.errors import DilmError, unknown_name


FIT_ROWS = 50_000  # K-means on more rows fits its centroids on a seeded subsample of this many rows


def kmeans(x: torch.Tensor, k: int, seed: int = 0, iters: int = 50, tol: float = 1e-6,
           fit_rows: int = FIT_ROWS) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's K-means with k-means++ seeding.

    Inputs of up to `fit_rows` rows (or 50 per cluster, if more) are fitted exactly; larger
    ones fit the centroids on a seeded subsample of that many rows (the classic speed-up for
    large pools: 400k x 768 takes seconds instead of minutes), then assign every row.

    Returns:
        centroids (k, d) and assignment (n,) of each row to a centroid.
    """
    n = x.shape[0]
    if k > n:
        raise DilmError(f"cannot pick {k} centers from {n} samples")
    x = x.float()
    gen = torch.Generator().manual_seed(seed)
    limit = max(fit_rows, 50 * k)
    fit = x[torch.randperm(n, generator=gen)[:limit]] if n > limit else x
    centroids = _lloyd(fit, k, gen, iters, tol)
    return centroids, _sq_dist(x, (x * x).sum(1), centroids).argmin(1)


def _lloyd(x: torch.Tensor, k: int, gen: torch.Generator, iters: int, tol: float) -> torch.Tensor:
    n = x.shape[0]
    x_sq = (x * x).sum(1)
    first = x[torch.randint(n, (1,), generator=gen)][0]
    dist = (x_sq - 2 * (x @ first) + first @ first).clamp_min(0)
    centroids = [first]
    for _ in range(1, k):  # k-means++: next center with probability ~ squared distance
        probs = dist.clamp_min(0)
        nxt = torch.multinomial(probs / probs.sum(), 1, generator=gen) if probs.sum() > 0 else \
            torch.randint(n, (1,), generator=gen)
        c = x[nxt][0]
        centroids.append(c)
        dist = torch.minimum(dist, (x_sq - 2 * (x @ c) + c @ c).clamp_min(0))  # matrix-vector: no (n, 1) temps
    centroids = torch.stack(centroids)
    for _ in range(iters):
        assign = _sq_dist(x, x_sq, centroids).argmin(1)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1).float()
        moved = torch.where(counts > 0, sums / counts.clamp_min(1), centroids)
        shift = (moved - centroids).pow(2).sum()
        centroids = moved
        if shift <= tol:
            break
    return centroids


def _sq_dist(x: torch.Tensor, x_sq: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """(n, k) squared Euclidean distances: |x|^2 - 2 x.c + |c|^2 in one fused matmul-add."""
    base = x_sq.unsqueeze(1) + (c * c).sum(1).unsqueeze(0)
    return torch.addmm(base, x, c.T, alpha=-2).clamp_min_(0)


def kcenters(x: torch.Tensor, k: int, seed: int = 0) -> list[int]:
    """K-means with k clusters; keep the real row nearest each centroid (k distinct rows)."""
    centroids, _ = kmeans(x, k, seed)
    d = _sq_dist(x.float(), (x.float() ** 2).sum(1), centroids)  # (n, k)
    nearest = d.topk(min(k, d.shape[0]), dim=0, largest=False).indices.T  # (k, k): k nearest rows per centroid
    chosen: list[int] = []
    for j in range(k):  # at most j rows are taken, so one of the k nearest is free
        pick = next(int(i) for i in nearest[j] if int(i) not in chosen)
        chosen.append(pick)
    return chosen


def herding(x: torch.Tensor, k: int, seed: int = 0, target: torch.Tensor | None = None) -> list[int]:
    """Greedy mean matching (Welling 2009): each pick brings the running mean closest to the data
    mean, or to `target` (H,) when given (e.g. the mean of the real rows of the class)."""
    if k > x.shape[0]:
        raise DilmError(f"cannot pick {k} samples from {x.shape[0]}")
    x = x.float()
    if target is not None and tuple(target.shape) != (x.shape[1],):
        raise DilmError(f"herding target has shape {tuple(target.shape)}, expected ({x.shape[1]},)")
    mu = x.mean(0) if target is None else target.float()
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
