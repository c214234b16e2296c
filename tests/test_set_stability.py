"""benchmarks/set_stability.py: the maths that decide whether a set can be chosen by a trial run."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from dilm.errors import DilmError

spec = importlib.util.spec_from_file_location(
    "set_stability", Path(__file__).resolve().parent.parent / "benchmarks" / "set_stability.py")
stability = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stability)


def test_pearson_by_hand():
    # x = 1,2,3; y = 2,4,7: means 2 and 13/3; sxy = 5, sxx = 2, syy = 38/3 -> r = 5 / sqrt(76/3)
    assert stability.pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(5 / math.sqrt(76 / 3))
    assert stability.pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(stability.pearson([1, 1, 1], [1, 2, 3]))
    with pytest.raises(DilmError, match="same length"):
        stability.pearson([1, 2], [1, 2, 3])


def test_compare_picks_the_best_half_by_the_first_scoring():
    a = {"m": {"set_0": 70.0, "set_1": 60.0, "set_2": 65.0, "set_3": 50.0}, "solo": {"x": 1.0}}
    b = {"m": {"set_0": 68.0, "set_1": 62.0, "set_2": 66.0, "set_3": 52.0}, "solo": {"x": 2.0}}
    out = stability.compare(a, b, group=2)
    assert set(out["by_method"]) == {"m"}  # a method with one set has no correlation
    m = out["by_method"]["m"]
    assert m["sets"] == 4 and m["mean_b"] == pytest.approx(62.0)
    assert m["mean_b_of_best_a_half"] == pytest.approx((68.0 + 66.0) / 2)  # sets 0 and 2 lead on A
    # groups {0, 1} and {2, 3}: A picks set 0 and set 2
    assert m["b_of_best_a_per_group"] == [68.0, 66.0] and m["mean_b_of_best_a_per_2"] == pytest.approx(67.0)
    assert m["r_per_group"] == [pytest.approx(1.0), pytest.approx(1.0)]  # two points always line up
    assert m["r"] > 0.9 and out["pooled"]["sets"] == 4
    with pytest.raises(DilmError, match="no method"):
        stability.compare({"solo": {"x": 1.0}}, {"solo": {"x": 2.0}})


def test_best_of_subsets_averages_the_pick_over_every_subset():
    a = {"set_0": 70.0, "set_1": 60.0, "set_2": 65.0}
    b = {"set_0": 68.0, "set_1": 62.0, "set_2": 66.0}
    paths = ["set_0", "set_1", "set_2"]
    assert stability.best_of_subsets(a, b, paths, 1) == pytest.approx((68 + 62 + 66) / 3)
    # pairs {0,1} -> set_0, {0,2} -> set_0, {1,2} -> set_2
    assert stability.best_of_subsets(a, b, paths, 2) == pytest.approx((68 + 68 + 66) / 3)
    assert stability.best_of_subsets(a, b, paths, 3) == pytest.approx(68.0)
    with pytest.raises(DilmError, match="a group has 3 sets"):
        stability.best_of_subsets(a, b, paths, 4)
    out = stability.compare({"m": a}, {"m": b}, group=3, subsets=(1, 2))
    assert out["by_method"]["m"]["mean_b_of_best_a_of_m_subsets"] == {
        "1": pytest.approx(196 / 3), "2": pytest.approx(202 / 3)}
