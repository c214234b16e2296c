"""Evaluation metrics and the statistics that compare methods.

Scores: accuracy, binary F1 (class 1 positive), macro-F1 and GLUE's combined score for
MRPC/QQP (mean of accuracy and F1). A dataset spec names its headline metric in its
`metric` field; `scores` returns that one and every other applicable value, in percent.
Statistics: mean ± sample std over runs, a t-based 95% confidence half-width and
Welch's unequal-variance t-test (scipy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from dilm.errors import unknown_name

METRICS = ("accuracy", "f1", "macro_f1", "accuracy_f1")


def _check(pred: Sequence[int], gold: Sequence[int]) -> None:
    if len(pred) != len(gold):
        raise ValueError(f"{len(pred)} predictions for {len(gold)} labels")
    if not gold:
        raise ValueError("no labels to score")


def accuracy(pred: Sequence[int], gold: Sequence[int]) -> float:
    """Fraction of predictions equal to the label."""
    _check(pred, gold)
    return sum(p == g for p, g in zip(pred, gold)) / len(gold)


def f1(pred: Sequence[int], gold: Sequence[int], positive: int = 1) -> float:
    """F1 of one class: 2 TP / (2 TP + FP + FN); 0 when the class is neither predicted nor present."""
    _check(pred, gold)
    tp = sum(p == positive and g == positive for p, g in zip(pred, gold))
    fp = sum(p == positive and g != positive for p, g in zip(pred, gold))
    fn = sum(p != positive and g == positive for p, g in zip(pred, gold))
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def macro_f1(pred: Sequence[int], gold: Sequence[int]) -> float:
    """Unweighted mean of per-class F1 over the classes seen in labels or predictions (sklearn's default)."""
    _check(pred, gold)
    classes = sorted(set(pred) | set(gold))
    return sum(f1(pred, gold, c) for c in classes) / len(classes)


def scores(metric: str, pred: Sequence[int], gold: Sequence[int], num_classes: int) -> tuple[float, dict[str, float]]:
    """The headline `metric` and all applicable metric values, in percent.

    Returns:
        (headline score, {name: value}) — F1 and the combined score only for 2 classes.
    """
    if metric not in METRICS:
        raise unknown_name("metric", metric, METRICS)
    values = {"accuracy": 100 * accuracy(pred, gold), "macro_f1": 100 * macro_f1(pred, gold)}
    if num_classes == 2:
        values["f1"] = 100 * f1(pred, gold, positive=1)
        values["accuracy_f1"] = (values["accuracy"] + values["f1"]) / 2
    if metric not in values:
        raise ValueError(f"metric '{metric}' needs 2 classes, got {num_classes}")
    return values[metric], values


def majority_score(metric: str, gold: Sequence[int], num_classes: int) -> tuple[int, float]:
    """(most frequent class, the score of always predicting it): the floor a trained model should clear."""
    if not gold:
        raise ValueError("no labels")
    top = max(range(num_classes), key=lambda c: (sum(g == c for g in gold), -c))
    return top, scores(metric, [top] * len(gold), gold, num_classes)[0]


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (ddof=1; nan for one value) and count of a list of scores."""

    mean: float
    std: float
    n: int


def summary(values: Sequence[float]) -> Summary:
    n = len(values)
    if n == 0:
        return Summary(math.nan, math.nan, 0)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
    return Summary(mean, std, n)


def ci95(values: Sequence[float]) -> float:
    """Half-width of the 95% confidence interval of the mean: t(0.975, n-1) * std / sqrt(n); nan if n < 2."""
    from scipy import stats

    s = summary(values)
    if s.n < 2:
        return math.nan
    return float(stats.t.ppf(0.975, s.n - 1)) * s.std / math.sqrt(s.n)


def welch(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test (unequal variances); nan when either side has < 2 values
    or both have zero variance."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return math.nan
    p = float(stats.ttest_ind(list(a), list(b), equal_var=False).pvalue)
    return p
