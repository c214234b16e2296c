"""Refining a candidate set towards real training rows (beyond the paper; `generate.refine`).

A free proxy of how well a set teaches the learner: a nearest-centroid classifier built from the set
(each class's mean embedding, the learner's pre-trained encoder, nothing trained) applied to real
training rows. On SST-2's train carve-out, moving each DPC-5 candidate towards a better proxy score
lifted the learner's carve-out score by about 3 points on average (docs/method.md, "Candidates refined
towards real training rows"). `local_search` does that one swap at a time, among the rows the
selection could have picked (the class's part of the pool after the posterior filter).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from dilm.data import Split, rows_with_words
from dilm.errors import DilmError
from dilm.learner import Learner


def centroid_score(sets: list[torch.Tensor], probe: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    """Smoothed nearest-centroid score of unit-norm probe rows: the mean over rows of
    log softmax_c(cos(row, centroid_c) / T) at the row's label, centroid_c the mean of `sets[c]`
    (class c's unit-norm embeddings, (k_c, D))."""
    centroids = torch.nn.functional.normalize(torch.stack([s.mean(0) for s in sets]), dim=-1)
    logp = torch.log_softmax(probe @ centroids.T / temperature, dim=-1)
    return logp[torch.arange(len(labels)), labels].mean().item()


def centroid_accuracy(sets: list[torch.Tensor], probe: torch.Tensor, labels: torch.Tensor) -> float:
    """% of probe rows whose nearest class centroid (cosine) is their label's."""
    centroids = torch.nn.functional.normalize(torch.stack([s.mean(0) for s in sets]), dim=-1)
    return (probe @ centroids.T).argmax(-1).eq(labels).float().mean().item() * 100


def local_search(pools: list[torch.Tensor], chosen: list[list[int]], probe: torch.Tensor, labels: torch.Tensor,
                 temperature: float, passes: int) -> list[list[int]]:
    """Improve `chosen` (per class c, indices into its unit-norm candidates `pools[c]`, (n_c, D)) one
    swap at a time: each pass visits every place of the set in order (class by class) and puts there
    the other candidate of its class that most raises `centroid_score`, if any does (the earliest on
    ties). Stops after `passes` passes, or sooner when a pass changes nothing."""
    chosen = [list(c) for c in chosen]
    for _ in range(passes):
        moved = False
        for c, pool in enumerate(pools):
            for place in range(len(chosen[c])):
                others = [p[ix] for p, ix in zip(pools, chosen)]
                best, best_score = chosen[c][place], centroid_score(others, probe, labels, temperature)
                for cand in range(pool.shape[0]):
                    if cand in chosen[c]:
                        continue
                    others[c] = pool[chosen[c][:place] + [cand] + chosen[c][place + 1:]]
                    score = centroid_score(others, probe, labels, temperature)
                    if score > best_score:
                        best, best_score = cand, score
                if best != chosen[c][place]:
                    chosen[c][place], moved = best, True
        if not moved:
            break
    return chosen


def refine_probe(train: Split, n: int, min_words: int, seed: int, exclude: Split | None = None) -> Split:
    """`n` seeded training rows of at least `min_words` words (all such rows if fewer), none of whose
    texts is in `exclude` (the trial probe, so the trial pick judges the refined sets on other rows)."""
    held = set(exclude.texts) if exclude is not None else set()
    pool = [i for i in rows_with_words(train, min_words) if train.texts[i] not in held]
    if not pool:
        raise DilmError(f"generate.refine_min_words={min_words}: no training row outside the trial probe has "
                        "that many words")
    rows = sorted(random.Random(f"refine-probe-{seed}").sample(pool, min(n, len(pool))))
    return Split([train.texts[i] for i in rows], [train.labels[i] for i in rows])


@dataclass
class Refiner:
    """What `local_search` needs besides the candidates: the probe rows' unit-norm embeddings (N, D)
    and labels (N,), the temperature and the number of passes."""

    probe: torch.Tensor
    labels: torch.Tensor
    temperature: float
    passes: int

    def __call__(self, pools: list[torch.Tensor], chosen: list[list[int]]) -> list[list[int]]:
        """`chosen` improved; `pools[c]` are class c's candidate embeddings (any norm)."""
        units = [torch.nn.functional.normalize(p.float(), dim=-1) for p in pools]
        return local_search(units, chosen, self.probe, self.labels, self.temperature, self.passes)


def build_refiner(how: str, train: Split | None, n: int, min_words: int, temperature: float, passes: int,
                  learner: Learner, features: str, seed: int, exclude: Split | None = None) -> Refiner | None:
    """The refiner `generate.refine=how` asks for (None for "off"): `refine_probe` rows embedded by the
    learner's pre-trained encoder with the selection's `features`."""
    if how == "off":
        return None
    if how != "centroid":
        raise DilmError(f"generate.refine={how!r}: choose from off, centroid")
    if train is None:
        raise DilmError("generate.refine=centroid needs the training rows to refine the sets towards")
    rows = refine_probe(train, n, min_words, seed, exclude)
    probe = torch.nn.functional.normalize(learner.embed(rows.texts, features).float(), dim=-1)
    return Refiner(probe, torch.tensor(rows.labels), temperature, passes)
