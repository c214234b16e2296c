"""Metrics and statistics against hand-computed values (and sklearn/scipy where installed)."""

from __future__ import annotations

import math

import pytest

from dilm.errors import DilmError
from dilm.metrics import accuracy, ci95, f1, macro_f1, scores, summary, welch

PRED = [1, 0, 1, 1, 0, 1]
GOLD = [1, 0, 0, 1, 1, 1]  # TP=3 (0,3,5), FP=1 (2), FN=1 (4), TN=1 (1)


def test_accuracy_and_binary_f1_by_hand():
    assert accuracy(PRED, GOLD) == pytest.approx(4 / 6)
    assert f1(PRED, GOLD) == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))  # 0.75
    # class 0: TP=1, FP=1, FN=1 -> 2/4
    assert f1(PRED, GOLD, positive=0) == pytest.approx(0.5)
    assert macro_f1(PRED, GOLD) == pytest.approx((0.75 + 0.5) / 2)


def test_f1_without_positives_is_zero():
    assert f1([0, 0], [0, 0]) == 0.0


def test_macro_f1_three_classes_by_hand():
    pred = [0, 1, 2, 2, 1, 0]
    gold = [0, 1, 1, 2, 2, 2]
    # class 0: TP1 FP1 FN0 -> 2/3; class 1: TP1 FP1 FN1 -> 1/2; class 2: TP1 FP1 FN2 -> 2/5
    assert macro_f1(pred, gold) == pytest.approx((2 / 3 + 1 / 2 + 2 / 5) / 3)


def test_scores_pick_the_spec_metric_in_percent():
    score, values = scores("accuracy_f1", PRED, GOLD, 2)
    assert values["accuracy"] == pytest.approx(400 / 6)
    assert values["f1"] == pytest.approx(75.0)
    assert score == values["accuracy_f1"] == pytest.approx((400 / 6 + 75) / 2)
    assert scores("f1", PRED, GOLD, 2)[0] == pytest.approx(75.0)
    assert scores("accuracy", PRED, GOLD, 2)[0] == pytest.approx(400 / 6)
    score, values = scores("macro_f1", [0, 1, 2], [0, 1, 1], 3)
    assert "f1" not in values and score == pytest.approx(100 * (1 + 2 / 3 + 0) / 3)
    with pytest.raises(DilmError, match="did you mean 'macro_f1'"):
        scores("macro-f1", PRED, GOLD, 2)
    with pytest.raises(ValueError, match="2 classes"):
        scores("f1", [0, 1, 2], [0, 1, 2], 3)


def test_matches_sklearn_when_installed():
    metrics = pytest.importorskip("sklearn.metrics")
    pred = [0, 1, 2, 2, 1, 0, 3, 3, 1]
    gold = [0, 1, 1, 2, 2, 2, 3, 0, 1]
    assert accuracy(pred, gold) == pytest.approx(metrics.accuracy_score(gold, pred))
    assert macro_f1(pred, gold) == pytest.approx(metrics.f1_score(gold, pred, average="macro"))
    assert f1(PRED, GOLD) == pytest.approx(metrics.f1_score(GOLD, PRED))


def test_summary_uses_sample_std():
    s = summary([1.0, 2.0, 3.0, 4.0])
    assert (s.mean, s.n) == (2.5, 4)
    assert s.std == pytest.approx(math.sqrt(5 / 3))  # squares 2.25+0.25+0.25+2.25 = 5, / (n-1)
    one = summary([7.0])
    assert one.mean == 7.0 and one.n == 1 and math.isnan(one.std)
    assert summary([]).n == 0


def test_ci95_is_t_times_standard_error():
    # t(0.975, df=3) = 3.182446305284263
    assert ci95([1.0, 2.0, 3.0, 4.0]) == pytest.approx(3.182446305284263 * math.sqrt(5 / 3) / 2)
    assert math.isnan(ci95([1.0]))


def test_welch_against_hand_computed_t_and_df():
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 9.0]
    # var a = 5/3, var b = 26.75/3; se^2 = (5/3 + 26.75/3) / 4; Welch-Satterthwaite df = 4.0836...
    assert welch(a, b) == pytest.approx(0.16470207962805658, rel=1e-9)
    stats = pytest.importorskip("scipy.stats")
    va, vb = (5 / 3) / 4, (26.75 / 3) / 4
    t = (2.5 - 5.25) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 3)
    assert df == pytest.approx(4.0836, abs=1e-4)
    assert welch(a, b) == pytest.approx(2 * stats.t.sf(abs(t), df))
    assert welch(a, b) == welch(b, a)
    assert welch([1.0, 1.1, 0.9, 1.0], [5.0, 5.1, 4.9, 5.0]) < 1e-6
    assert math.isnan(welch([1.0], [1.0, 2.0]))


def test_majority_score_by_hand():
    from dilm.metrics import majority_score

    # always 1 on [1, 1, 0]: accuracy 2/3; F1 of class 1: precision 2/3, recall 1 -> 0.8
    assert majority_score("accuracy", [1, 1, 0], 2) == (1, pytest.approx(200 / 3))
    assert majority_score("accuracy_f1", [1, 1, 0], 2) == (1, pytest.approx((200 / 3 + 80) / 2))
    # class 2 most frequent: macro-F1 averages over the classes present (0, 1, 2, as sklearn does);
    # only class 2 scores: precision 0.5, recall 1 -> 2/3
    assert majority_score("macro_f1", [2, 2, 0, 1], 4) == (2, pytest.approx(100 * (2 / 3) / 3))
    with pytest.raises(ValueError):
        majority_score("accuracy", [], 2)
