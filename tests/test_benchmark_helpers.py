"""The benchmark scripts' helpers (benchmarks/*.py): copying runs between stores only for unchanged sets,
the summaries of the carve-out studies, and the picks some of them make."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest
import torch

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


def test_carry_as_files_the_runs_under_the_copy_of_their_set(tmp_path):
    """--as/--sets: the runs of a study's set are filed under the table's method and the table's copy of the
    set (found by its bytes); a set with no copy there is refused before anything is written."""
    study, table = tmp_path / "study", tmp_path / "table" / "dpc_5"
    study.mkdir()
    table.mkdir(parents=True)
    a, b = study / "set_0.jsonl", study / "set_1.jsonl"
    a.write_text('{"text": "x", "label": 0}\n')
    b.write_text('{"text": "y", "label": 1}\n')
    (table / "set_3.jsonl").write_bytes(a.read_bytes())
    src, dst = tmp_path / "src.sqlite", tmp_path / "dst.sqlite"
    with ResultStore(src) as s:
        s.add(run_of(a, "dilm_study", 0, score=71.0))
        s.add(run_of(b, "dilm_study", 0, dpc=20))
    with pytest.raises(DilmError, match="no file under .* has its bytes"):
        carry_runs.carry(str(src), str(dst), ["dilm_study"], None, "dilm", table.parent)
    with pytest.raises(DilmError, match="--as and --sets go together"):
        carry_runs.carry(str(src), str(dst), ["dilm_study"], None, "dilm")
    if dst.exists():
        with ResultStore(dst) as d:
            assert d.query() == []  # nothing was carried
    assert carry_runs.carry(str(src), str(dst), ["dilm_study"], [5], "dilm", table.parent) == 1
    with ResultStore(dst) as d:
        (run,) = d.query()
    assert (run.method, run.set_path, run.score, run.key.set_hash) == \
        ("dilm", str(table / "set_3.jsonl"), 71.0, file_hash(a))


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


class_combos = load("class_combos")


def test_class_combos_writes_the_mixed_halves_and_sums_up_the_picks(tmp_path, monkeypatch):
    """Two candidates of 2 classes (1 row a class) give the 2 mixed sets; the summary's picks by A:
    candidate 1 (A 70), every combination -> (0, 1) (A 75), coordinate ascent from (1, 1): class 0
    tries (0, 1) = 75 -> (0, 1); class 1 tries (0, 0) = 60 -> stays. B of those: 66, 71, 71."""
    monkeypatch.chdir(tmp_path)
    cands = Path("cands")
    cands.mkdir()
    for j in (0, 1):
        rows = [{"sentence": f"neg{j}", "label": 0}, {"sentence": f"pos{j}", "label": 1}]
        (cands / f"set_{j}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    record = class_combos.write_combos(Path("out"), cands, 2)
    assert [c["halves"] for c in record.values()] == [[0, 1], [1, 0]]
    rows = [json.loads(line) for line in Path("out/sets/set_0.jsonl").read_text().splitlines()]
    assert [r["sentence"] for r in rows] == ["neg0", "pos1"]
    with pytest.raises(DilmError, match="not a multiple of --group 3"):
        class_combos.write_combos(Path("out2"), cands, 3)
    a_scores = {"cands/set_0.jsonl": 60.0, "cands/set_1.jsonl": 70.0, "out/sets/set_0.jsonl": 75.0,
                "out/sets/set_1.jsonl": 50.0}
    b_scores = {"cands/set_0.jsonl": 61.0, "cands/set_1.jsonl": 66.0, "out/sets/set_0.jsonl": 71.0,
                "out/sets/set_1.jsonl": 52.0}
    for name, table in (("a", a_scores), ("b", b_scores)):
        with ResultStore(Path(f"{name}.sqlite")) as s:
            for path, score in table.items():
                s.add(run_of(Path(path), "m", 0, score=score))
    out = class_combos.summarise(Path("out"), "a.sqlite", "b.sqlite", "a.sqlite", "b.sqlite")
    picks = out["0"]["picks"]
    assert picks["candidate"]["halves"] == [1, 1] and picks["candidate"]["b"] == 66.0
    assert picks["every_combination"]["halves"] == [0, 1] and picks["every_combination"]["b"] == 71.0
    assert picks["coordinate_ascent"]["halves"] == [0, 1] and out["0"]["max_b"] == 71.0
    assert json.loads(Path("out/summary.json").read_text())["mean_b_of_pick"]["candidate"] == 66.0


trial_more = load("trial_more")


def test_trial_more_pools_both_pools_candidates_per_generator():
    """One generator, 2 candidates a pool. Pooled (A, B): (60, 61), (70, 66), (65, 70), (50, 40).
    Best-A of M=1: mean B = 59.25; M=4: the A-70 set, B 66; first pool only, M=2: B 66."""
    first = ({"f/set_0.jsonl": 60.0, "f/set_1.jsonl": 70.0}, {"f/set_0.jsonl": 61.0, "f/set_1.jsonl": 66.0})
    second = ({"s/set_0.jsonl": 65.0, "s/set_1.jsonl": 50.0}, {"s/set_0.jsonl": 70.0, "s/set_1.jsonl": 40.0})
    out = trial_more.pooled(first, second, 2, [1, 2, 4])
    assert out["candidates_per_generator"] == {"0": 4}
    assert out["best_a_of_m"]["1"] == pytest.approx(59.25) and out["best_a_of_m"]["4"] == 66.0
    # M=2: the 6 pairs' best-A B: (60,70)->66, (60,65)->70, (60,50)->61, (70,65)->66, (70,50)->66, (65,50)->70
    assert out["best_a_of_m"]["2"] == pytest.approx((66 + 70 + 61 + 66 + 66 + 70) / 6)
    assert out["first_pool_only"] == {"1": pytest.approx(63.5), "2": 66.0}
    with pytest.raises(DilmError, match="share set paths"):
        trial_more.pooled(first, first, 2, [1])


def test_additive_r2_is_one_for_a_sum_and_lower_with_an_interaction():
    exact = {(i, j): 60.0 + 3 * i + 5 * j for i in range(2) for j in range(2)}
    assert class_combos.additive_r2(exact) == pytest.approx(1.0)
    # interaction +-1 on a 2 x 2 table: rows/cols effects 0, all spread is residual
    assert class_combos.additive_r2({(0, 0): 1.0, (0, 1): -1.0, (1, 0): -1.0, (1, 1): 1.0}) == pytest.approx(0.0)
    with pytest.raises(DilmError, match="full table"):
        class_combos.additive_r2({(0, 0): 1.0, (0, 1): 2.0})


grad_norms = load("grad_norms")


def test_grad_norms_summarises_the_matching_steps_by_hand(tmp_path):
    metrics = tmp_path / "distill_metrics.jsonl"
    norms = [3.0, 0.5, 8.0, 1.0]
    metrics.write_text("".join(json.dumps({"step": i + 1, "grad_norm": g}) + "\n" for i, g in enumerate(norms)))
    assert grad_norms.matching_norms(str(metrics)) == {"steps": 4, "min": 0.5, "median": 2.0, "max": 8.0}


def test_filter_strength_pairs_the_pool_parts_and_scores_the_kept_candidate_on_b(tmp_path):
    """Two variants of 4 candidates from one pool; q0.4's set 2 is q0.6's set 2 (same bytes), so it
    shares that set's runs. Worked by hand: A q0.6 60 62 70 64, q0.4 61 66 70 63 -> differences 1 4 0 -1,
    mean 1.0; q0.4's best A is set 2 (70; ties go to the lower index), whose B is 67."""
    filter_strength = load("filter_strength")
    texts = {("q0.6", 0): "a", ("q0.6", 1): "b", ("q0.6", 2): "c", ("q0.6", 3): "d",
             ("q0.4", 0): "e", ("q0.4", 1): "f", ("q0.4", 2): "c", ("q0.4", 3): "g"}
    a_score = {"a": 60, "b": 62, "c": 70, "d": 64, "e": 61, "f": 66, "g": 63}
    b_score = {"a": 71, "b": 59, "c": 67, "d": 60, "e": 58, "f": 72, "g": 65}
    files = {}
    for (v, i), text in texts.items():
        f = tmp_path / "sets" / v / "dpc_5" / f"set_{i}.jsonl"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps({"text": text, "label": 0}) + "\n")
        files[text] = f
    for name, score in (("a", a_score), ("b", b_score)):
        with ResultStore(tmp_path / f"{name}.sqlite") as s:
            for text, value in score.items():
                s.add(run_of(files[text], "m", 0, score=value))
    out = tmp_path / "summary.json"
    args = [str(out), "--sets", str(tmp_path / "sets"), "--a", str(tmp_path / "a.sqlite"), "--b",
            str(tmp_path / "b.sqlite"), "--variant", "q0.6", "q0.4", "--reference", "q0.6",
            "--kept", str(tmp_path / "kept")]
    filter_strength.main(args)
    got = json.loads(out.read_text())["variants"]
    assert got["q0.4"]["a"] == [61, 66, 70, 63] and got["q0.4"]["same_sets_as_reference"] == 1
    # the kept set of the one pool is set 2 in both variants, copied to kept/<variant>/dpc_5/set_0.jsonl
    assert got["q0.6"]["kept_sets"] == [str(tmp_path / "sets" / "q0.6" / "dpc_5" / "set_2.jsonl")]
    for v in ("q0.6", "q0.4"):
        assert (tmp_path / "kept" / v / "dpc_5" / "set_0.jsonl").read_bytes() == files["c"].read_bytes()
    filter_strength.main(args)  # a rerun finds the same kept sets there: fine
    (tmp_path / "kept" / "q0.4" / "dpc_5" / "set_0.jsonl").write_text('{"text": "other", "label": 0}\n')
    with pytest.raises(DilmError, match="holds another set"):
        filter_strength.main(args)
    assert got["q0.4"]["a_vs_q0.6"]["mean_diff"] == pytest.approx(1.0)
    assert 0 < got["q0.4"]["a_vs_q0.6"]["p_paired"] < 1
    assert got["q0.4"]["kept_b"] == [67] and got["q0.6"]["kept_b"] == [67]
    assert got["q0.6"]["best_b"] == [71] and got["q0.4"]["best_b"] == [72]  # the highest B of the pool
    assert got["q0.4"]["kept_b_vs_q0.6"] == {"mean_diff": 0.0, "p_paired": None}  # the same kept set
    assert got["q0.6"]["b_mean"] == pytest.approx((71 + 59 + 67 + 60) / 4)
    # q0.4's B 58 72 67 65 against q0.6's 71 59 67 60: differences -13 13 0 5, mean 1.25
    assert got["q0.4"]["b_vs_q0.6"]["mean_diff"] == pytest.approx(1.25)
    # r of A 60 62 70 64 and B 71 59 67 60: centred A -4 -2 6 0, B 7.75 -4.25 3.75 -3.25;
    # sum of products -31 + 8.5 + 22.5 + 0 = 0; so r = 0
    assert got["q0.6"]["r_a_b"] == pytest.approx(0.0)
    assert json.loads(out.read_text())["run_seconds"]["runs"] == 14  # 7 sets in each store


def test_filter_strength_refuses_a_set_without_a_run(tmp_path):
    filter_strength = load("filter_strength")
    f = tmp_path / "sets" / "q0.6" / "dpc_5" / "set_0.jsonl"
    f.parent.mkdir(parents=True)
    f.write_text('{"text": "x", "label": 0}\n')
    other = tmp_path / "other.jsonl"
    other.write_text('{"text": "y", "label": 0}\n')
    with ResultStore(tmp_path / "a.sqlite") as s:
        s.add(run_of(other, "m", 0))
    with pytest.raises(DilmError, match="no run for 1 set"):
        filter_strength.main([str(tmp_path / "s.json"), "--sets", str(tmp_path / "sets"), "--a",
                              str(tmp_path / "a.sqlite"), "--variant", "q0.6", "--reference", "q0.6"])


@pytest.mark.parametrize("top_p", ["0", "1.5", "-0.2"])
def test_posterior_filter_refuses_a_top_p_outside_0_1(tmp_path, top_p):
    posterior_filter = load("posterior_filter")
    out = tmp_path / "out.json"
    with pytest.raises(DilmError, match=f"--top-p must be in \\(0, 1\\], got {float(top_p)}"):
        posterior_filter.main([str(out), str(tmp_path / "no_generator"), "--top-p", top_p])
    assert not out.exists()


def test_filter_strength_refuses_variants_of_different_sizes(tmp_path):
    filter_strength = load("filter_strength")
    for v, n in (("q0.6", 4), ("q0.4", 8)):
        for i in range(n):
            f = tmp_path / "sets" / v / "dpc_5" / f"set_{i}.jsonl"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps({"text": f"{v} {i}", "label": 0}) + "\n")
    with ResultStore(tmp_path / "a.sqlite") as s:
        s.add(run_of(f, "m", 0))
    with pytest.raises(DilmError, match="variant q0.4 has 8 sets, the reference q0.6 4"):
        filter_strength.main([str(tmp_path / "s.json"), "--sets", str(tmp_path / "sets"), "--a",
                              str(tmp_path / "a.sqlite"), "--variant", "q0.6", "q0.4", "--reference", "q0.6"])


def write_set(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"text": text, "label": 0}) + "\n")
    return path


def test_pool_size_compares_cuts_of_the_same_pools_by_hand(tmp_path):
    """Two pools. Cut `two` (the reference): 2 candidates a pool, A 60 65 | 70 62, B 70 66 | 64 68, so the
    kept (best-A) sets are set 1 (B 66) and set 2 (B 64), the pools' mean B 68 and 66, their best B 70 and
    68. Cut `one`: 1 candidate a pool, B 69 and 68: pool B differences 1 and 2 (mean 1.5), kept 3 and 4
    (mean 3.5). Each cut's runs sit in stores of their own, read together."""
    pool_size = load("pool_size")
    scores = {"two": [(60, 70), (65, 66), (70, 64), (62, 68)], "one": [(61, 69), (63, 68)]}
    for cut, pairs in scores.items():
        with ResultStore(tmp_path / f"a_{cut}.sqlite") as sa, ResultStore(tmp_path / f"b_{cut}.sqlite") as sb:
            for i, (a, b) in enumerate(pairs):
                f = write_set(tmp_path / cut / "dpc_5" / f"set_{i}.jsonl", f"{cut} {i}")
                sa.add(dataclasses.replace(run_of(f, "m", 0, score=a), seconds=10.0))
                sb.add(dataclasses.replace(run_of(f, "m", 0, score=b), seconds=20.0))
    out = tmp_path / "summary.json"
    stores = {k: [str(tmp_path / f"{k}_{cut}.sqlite") for cut in scores] for k in ("a", "b")}
    args = [str(out), "--cut", f"one:1:{tmp_path / 'one'}", "--cut", f"two:2:{tmp_path / 'two'}",
            "--reference", "two", "--a", *stores["a"], "--b", *stores["b"]]
    pool_size.main(args)
    got = json.loads(out.read_text())["cuts"]
    two, one = got["two"], got["one"]
    assert two["kept_sets"] == [str(tmp_path / "two" / "dpc_5" / f"set_{i}.jsonl") for i in (1, 2)]
    assert two["kept_b"] == [66, 64] and two["pool_b"] == [68, 66] and two["best_b"] == [70, 68]
    assert two["r_a_b"] == pytest.approx(-33 / (56.75 * 20) ** 0.5) and one["r_a_b"] is None
    assert one["kept_b"] == [69, 68] and one["pool_b"] == [69, 68]
    assert one["pool_b_vs_two"]["mean_diff"] == pytest.approx(1.5)
    assert one["kept_b_vs_two"]["mean_diff"] == pytest.approx(3.5)
    assert 0 < one["kept_b_vs_two"]["p_paired"] < 1
    assert two["run_seconds"] == 4 * 30 and one["run_seconds"] == 2 * 30  # 10 s an A run, 20 s a B run


def test_pool_size_refuses_bad_cuts_and_disagreeing_stores(tmp_path):
    pool_size = load("pool_size")
    with pytest.raises(DilmError, match="expected NAME:PER_POOL:DIR"):
        pool_size.parse_cut("whole:0:somewhere")
    f = write_set(tmp_path / "x" / "dpc_5" / "set_0.jsonl", "x")
    for name, score in (("a1", 60.0), ("a2", 61.0)):
        with ResultStore(tmp_path / f"{name}.sqlite") as s:
            s.add(run_of(f, "m", 0, score=score))
    with pytest.raises(DilmError, match="scores 61.0, another store 60.0"):
        pool_size.merged_runs([str(tmp_path / "a1.sqlite"), str(tmp_path / "a2.sqlite")])
    for i in range(1, 4):
        write_set(tmp_path / "x" / "dpc_5" / f"set_{i}.jsonl", f"x {i}")
    write_set(tmp_path / "y" / "dpc_5" / "set_0.jsonl", "y")
    with ResultStore(tmp_path / "a1.sqlite") as s:
        for d, i in (("x", 1), ("x", 2), ("x", 3), ("y", 0)):
            s.add(run_of(tmp_path / d / "dpc_5" / f"set_{i}.jsonl", "m", 0))
    a = str(tmp_path / "a1.sqlite")
    with pytest.raises(DilmError, match="cut y has 1 pools, the reference x 2"):  # 4 sets, 2 a pool
        pool_size.main([str(tmp_path / "s.json"), "--cut", f"x:2:{tmp_path / 'x'}", "--cut",
                        f"y:1:{tmp_path / 'y'}", "--a", a, "--b", a])
    assert not (tmp_path / "s.json").exists()


def test_centroid_score_by_hand():
    """Centroids (1, 0) and (0, 1), T = 1. Row (1, 0) of class 0: log softmax (1, 0) at 0 = -log(1 + e^-1);
    row (0, 1) of class 0: -log(1 + e). Mean: -(0.31326 + 1.31326) / 2."""
    centroid_pick = load("centroid_pick")
    sets = [torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])]
    probe, labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])
    assert centroid_pick.centroid_score(sets, probe, labels, 1.0) == pytest.approx(-(0.313262 + 1.313262) / 2, abs=1e-5)
    assert centroid_pick.centroid_accuracy(sets, probe, labels) == pytest.approx(50.0)


def test_centroid_local_search_swaps_each_class_to_the_sample_that_fits_the_probe():
    """Each class starts from the other class's direction; one pass moves both to their own."""
    centroid_pick = load("centroid_pick")
    pools = [torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[0.0, 1.0], [1.0, 0.0]])]
    probe, labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1])
    assert centroid_pick.local_search(pools, [[1], [1]], probe, labels, 0.1, passes=2) == [[0], [0]]
    assert centroid_pick.local_search(pools, [[0], [0]], probe, labels, 0.1, passes=2) == [[0], [0]]  # stays


def test_centroid_pick_refuses_bad_arguments_before_any_work(tmp_path):
    centroid_pick = load("centroid_pick")
    with pytest.raises(DilmError, match="one per pool \\(2\\), got 1"):
        centroid_pick.main([str(tmp_path / "out"), "--pool", "a.jsonl", "b.jsonl", "--seed", "0"])
    (tmp_path / "out").mkdir()
    with pytest.raises(DilmError, match="exists; delete it"):
        centroid_pick.main([str(tmp_path / "out"), "--pool", "a.jsonl", "--seed", "0"])
