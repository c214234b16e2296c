"""Choosing among candidate sets by a trial run (beyond the paper; `generate.trials`).

A set's worth to a learner is largely a property of the set: on SST-2, two scorings of the same
DPC-5 sets on different train carve-outs with different learner seeds correlate at r = 0.77-0.90
(docs/method.md, "Choosing a set by a trial run"). So when one pool yields several candidate sets,
train the learner on each with the evaluation protocol and keep the one that scores best on a
seeded probe of *training* rows (never the validation split).
"""

from __future__ import annotations

import itertools
import logging
import random
from collections.abc import Callable

from dilm import dist
from dilm.data import DatasetSpec, Split, rows_with_words
from dilm.errors import DilmError
from dilm.evaluate import run_one
from dilm.learner import Learner, TrainConfig

log = logging.getLogger(__name__)


def probe_split(train: Split, n: int, min_words: int, seed: int) -> Split:
    """`n` seeded training rows of at least `min_words` words (all such rows if fewer)."""
    pool = rows_with_words(train, min_words)
    if not pool:
        raise DilmError(f"generate.trial_min_words={min_words}: no training row has that many words")
    rows = sorted(random.Random(f"trial-probe-{seed}").sample(pool, min(n, len(pool))))
    return Split([train.texts[i] for i in rows], [train.labels[i] for i in rows])


def trial_scores(candidates: list[Split], learner: Learner, spec: DatasetSpec, probe: Split, seed: int,
                 protocol: TrainConfig | None = None) -> list[float]:
    """The probe score of a learner trained on each candidate from `seed`, the processes sharing the
    candidates out. The learner is restored to its pre-trained weights afterwards."""
    protocol = protocol or TrainConfig()
    scores = dist.map_shared(lambda j: run_one(learner, candidates[j], probe, spec, protocol, seed)[0],
                             len(candidates))
    learner.reset(seed)  # embeddings after this come from the pre-trained encoder again
    return scores


def best(scores: list[float]) -> int:
    """Index of the highest score (the earliest on ties)."""
    return max(range(len(scores)), key=lambda j: (scores[j], -j))


MAX_COMBINATIONS = 256  # trial_by_class=all scores every combination: at most this many trial runs


def check_search(how: str, num_parts: int, num_classes: int) -> None:
    """Refuse a per-class search that cannot run (checked before a generation samples anything)."""
    if num_parts < 1 or num_classes < 1:
        raise DilmError(f"class_search needs >= 1 candidate and class, got {num_parts} and {num_classes}")
    if how not in ("ascent", "all"):
        raise DilmError(f"class_search: how must be 'ascent' or 'all', got {how!r}")
    if how == "all" and num_parts ** num_classes > MAX_COMBINATIONS:
        raise DilmError(f"generate.trial_by_class=all: {num_parts} candidates and {num_classes} classes make "
                        f"{num_parts ** num_classes} combinations to train on (at most {MAX_COMBINATIONS}); "
                        "use generate.trial_by_class=ascent")


def class_search(num_parts: int, num_classes: int, score: Callable[[list[tuple[int, ...]]], list[float]],
                 how: str = "ascent") -> tuple[tuple[int, ...], dict]:
    """A per-class pick among candidates (`generate.trial_by_class`). A choice gives each class c the
    rows it has in candidate j_c; candidate j is (j, ..., j). `score` scores a list of choices at once
    (so the processes can share them).
    - "all": every choice is scored (num_parts ** num_classes trial runs) and the best kept.
    - "ascent": the candidates are scored and the best kept; then one pass over the classes: for
      class c, the current choice with class c's rows from each other candidate, keeping the best.
      num_parts + num_classes x (num_parts - 1) trial runs.
    Ties keep the best candidate, then the current choice, then the earlier choice.
    Returns the kept choice and {choice: score} of every choice scored."""
    check_search(how, num_parts, num_classes)
    own = [(j,) * num_classes for j in range(num_parts)]
    if how == "all":
        every = list(itertools.product(range(num_parts), repeat=num_classes))
        scores = dict(zip(every, score(every)))
        start = own[best([scores[c] for c in own])]
        return max(every, key=lambda o: (scores[o], o == start)), scores
    scores = dict(zip(own, score(own)))
    current = own[best([scores[c] for c in own])]
    for c in range(num_classes):
        options = [current[:c] + (j,) + current[c + 1:] for j in range(num_parts)]
        new = [o for o in options if o not in scores]
        scores.update(zip(new, score(new) if new else []))
        current = max(options, key=lambda o: (scores[o], o == current, -o[c]))
    return current, scores
