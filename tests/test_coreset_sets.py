"""Coreset baseline sets: DPC rows per class, distinct, seeded, herding deterministic, sizes checked."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch

from dilm.cli import main
from dilm.coreset_sets import CoresetPlan, select_per_class, write_coreset_sets
from dilm.data import DatasetSpec, Split
from dilm.errors import DilmError
from dilm.sets import describe_set, read_set

SPEC = DatasetSpec("toy", ("sentence",), ("neg", "pos", "neutral"))


def toy(per_class=(12, 10, 9)) -> tuple[Split, torch.Tensor]:
    texts, labels = [], []
    for c, n in enumerate(per_class):
        texts += [(f"text {c}-{i}",) for i in range(n)]
        labels += [c] * n
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0)).tolist()
    split = Split([texts[i] for i in order], [labels[i] for i in order])
    return split, torch.randn(len(labels), 6, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("method", ["random", "kcenters", "herding"])
def test_each_set_has_dpc_distinct_rows_per_class(method, tmp_path):
    split, feats = toy()
    plan = CoresetPlan(method, (2, 5), num_sets=2)
    paths = write_coreset_sets(plan, split, SPEC, None if method == "random" else feats, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "dpc_2/set_0.jsonl", "dpc_2/set_1.jsonl", "dpc_5/set_0.jsonl", "dpc_5/set_1.jsonl"]
    for path in paths:
        k = int(path.parent.name.split("_")[1])
        got = read_set(path, SPEC)  # valid set format
        assert Counter(got.labels) == {0: k, 1: k, 2: k}
        assert len(set(got.texts)) == 3 * k
        train = dict(zip(split.texts, split.labels))
        assert all(train[t] == y for t, y in zip(got.texts, got.labels))  # real rows, right labels
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert all(set(r) == {"sentence", "label", "label_name"} for r in rows)
        assert all(r["label_name"] == SPEC.label_names[r["label"]] for r in rows)
    info = describe_set(paths[0])
    assert info.method == plan.label and info.dpc == 2


def test_seeds_make_sets_differ_and_herding_is_deterministic():
    split, feats = toy()
    rand = [select_per_class(CoresetPlan("random", (4,)), split, SPEC, None, 4, i) for i in range(3)]
    assert len({tuple(r) for r in rand}) == 3
    assert select_per_class(CoresetPlan("random", (4,)), split, SPEC, None, 4, 1) == rand[1]
    kc = [select_per_class(CoresetPlan("kcenters", (4,)), split, SPEC, feats, 4, i) for i in range(3)]
    assert len({tuple(r) for r in kc}) > 1
    herd = CoresetPlan("herding", (4,))
    assert select_per_class(herd, split, SPEC, feats, 4, 0) == select_per_class(herd, split, SPEC, feats, 4, 5)


def test_herding_matches_greedy_mean_matching_by_hand():
    # class 0: points 0, 2, 10 on a line (mean 4). First pick: 2 (|2-4| smallest);
    # then (2+x)/2 closest to 4 -> x=10 gives 6, x=0 gives 1 -> pick 10.
    split = Split([("a",), ("b",), ("c",), ("d",), ("e",)], [0, 1, 0, 1, 0])
    feats = torch.tensor([[0.0], [1.0], [2.0], [3.0], [10.0]])
    spec = DatasetSpec("toy2", ("sentence",), ("x", "y"))
    chosen = select_per_class(CoresetPlan("herding", (2,)), split, spec, feats, 2, 0)
    assert chosen == [2, 4, 1, 3]


def test_dpc_larger_than_a_class_names_the_class(tmp_path):
    split, feats = toy((12, 10, 3))
    with pytest.raises(DilmError, match=r"class 2 \('neutral'\) has 3 training rows, fewer than DPC 5"):
        write_coreset_sets(CoresetPlan("kcenters", (2, 5)), split, SPEC, feats, tmp_path)
    assert not list(tmp_path.rglob("*.jsonl"))  # nothing written


def test_plan_rejects_bad_values():
    with pytest.raises(DilmError, match="did you mean 'kcenters'"):
        CoresetPlan("kcenter", (5,))
    with pytest.raises(DilmError, match="positive"):
        CoresetPlan("random", (0,))
    with pytest.raises(DilmError, match="feature pooling"):
        CoresetPlan("herding", (5,), features="max")


def test_cli_coreset_on_tiny_learner(tiny_data_dir, tiny_learner_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DILM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "kc"
    args = ["coreset", "--method", "kcenters", "--dpc", "2", "3", "--num-sets", "2", "--features", "cls",
            "--dataset", str(tiny_data_dir), "--out", str(out), f"model.learner={tiny_learner_dir}",
            "precision=fp32", "model.max_length=16"]
    assert main(args) == 0
    printed = capsys.readouterr().out.split()
    sets = out / "sets" / "kcenters_cls"  # a folder of the method's own beside a run's generated sets
    assert printed == [str(sets / f"dpc_{k}" / f"set_{i}.jsonl") for k in (2, 3) for i in (0, 1)]
    selection = json.loads((sets / "dpc_2" / "selection.json").read_text())
    assert selection["method"] == "kcenters_cls" and selection["features"] == "cls"
    assert (sets / "dpc_3" / "config.yaml").exists()
    assert list((tmp_path / "cache" / "features").glob("*.pt"))  # train features cached
    assert main(args) == 0  # second time from the cache: same sets
    capsys.readouterr()
    herding = ["coreset", "--method", "herding", "--dpc", "17", *args[6:]]
    assert main(herding) == 2
    assert "class 0 ('negative') has 16 training rows, fewer than DPC 17" in capsys.readouterr().err
