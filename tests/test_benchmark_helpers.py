"""benchmarks/carry_runs.py and benchmarks/trial_candidates.py: copying runs between stores only
for unchanged sets, and the per-DPC summary of trial candidates."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from dilm.errors import DilmError
from dilm.learner import TrainConfig
from dilm.store import ResultStore, RunKey, RunRecord, file_hash, protocol_hash

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


carry_runs = load("carry_runs")
trial_candidates = load("trial_candidates")


def run_of(set_file: Path, method: str, seed: int, dpc: int = 5, score: float = 60.0) -> RunRecord:
    key = RunKey(file_hash(set_file), "m", protocol_hash(TrainConfig()), seed)
    return RunRecord(key, "sst2", method, dpc, str(set_file), "accuracy", score, {"accuracy": score})


def test_carry_copies_the_asked_methods_and_dpcs_once(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"text": "x", "label": 0}\n')
    b.write_text('{"text": "y", "label": 1}\n')
    src, dst = tmp_path / "src.sqlite", tmp_path / "dst.sqlite"
    with ResultStore(src) as s:
        for seed in (0, 1):
            s.add(run_of(a, "dilm", seed, score=70.0 + seed))
        s.add(run_of(b, "dilm", 0, dpc=20))  # another DPC
        s.add(run_of(b, "random", 1))  # another method
    assert carry_runs.carry(str(src), str(dst), ["dilm"], [5]) == 2
    assert carry_runs.carry(str(src), str(dst), ["dilm"], [5]) == 0  # already there: kept, not doubled
    with ResultStore(dst) as d:
        runs = d.query()
    assert sorted((r.method, r.key.seed, r.score) for r in runs) == [("dilm", 0, 70.0), ("dilm", 1, 71.0)]


def test_carry_refuses_a_changed_or_missing_set(tmp_path):
    a = tmp_path / "a.jsonl"
    a.write_text('{"text": "x", "label": 0}\n')
    src, dst = tmp_path / "src.sqlite", tmp_path / "dst.sqlite"
    with ResultStore(src) as s:
        s.add(run_of(a, "dilm", 0))
    a.write_text('{"text": "changed", "label": 0}\n')
    with pytest.raises(DilmError, match="has changed"):
        carry_runs.carry(str(src), str(dst), ["dilm"], None)
    a.unlink()
    with pytest.raises(DilmError, match="does not exist"):
        carry_runs.carry(str(src), str(dst), ["dilm"], None)
    with pytest.raises(DilmError, match="no runs of vanilla_lm"):
        carry_runs.carry(str(src), str(dst), ["vanilla_lm"], None)
    if dst.exists():
        with ResultStore(dst) as d:
            assert d.query() == []  # nothing was carried


def test_trial_candidates_by_hand(tmp_path):
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    one.write_text(json.dumps({"sets/dpc_5/set_0.jsonl": {"probe_scores": [70.0, 60.0], "chosen": 0},
                               "sets/dpc_20/set_0.jsonl": {"probe_scores": [80.0, 76.0], "chosen": 0}}))
    two.write_text(json.dumps({"sets/dpc_5/set_0.jsonl": {"probe_scores": [66.0, 68.0], "chosen": 1}}))
    table = trial_candidates.compare({"a": trial_candidates.candidates([str(one)]),
                                      "b": trial_candidates.candidates([str(two)])})
    a5, b5 = table["5"]["a"], table["5"]["b"]
    assert a5["mean"] == pytest.approx(65.0) and a5["std"] == pytest.approx(50 ** 0.5)  # sample std of 70, 60
    assert a5["kept"] == [70.0] and b5["kept"] == [68.0] and b5["mean"] == pytest.approx(67.0)
    assert "p_vs_a" in b5 and "p_vs_a" not in a5
    assert set(table["20"]) == {"a"}  # b has no DPC-20 candidates


def test_trial_candidates_rejects_a_file_that_is_not_a_trial_record(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"sets/dpc_5/set_0.jsonl": {"scores": [1.0]}}))
    with pytest.raises(DilmError, match="not a trial record"):
        trial_candidates.candidates([str(bad)])
