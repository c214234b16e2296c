"""`evaluate`: trains each (set, learner, seed) once, stores it, resumes, validates sets first."""

from __future__ import annotations

import json
import math

import pytest
from conftest import count_calls

from dilm import evaluate
from dilm.cli import main
from dilm.data import DataConfig, load_dataset
from dilm.errors import DilmError
from dilm.learner import TrainConfig
from dilm.runtime import warmup_cosine
from dilm.sets import describe_set
from dilm.store import ResultStore

PROTOCOL = TrainConfig(steps=2)


def write_set(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture()
def sets(tmp_path):
    """Two DPC-2 sets in a run folder's layout."""
    a = write_set(tmp_path / "run/sets/dpc_2/set_0.jsonl", [
        {"sentence": "a great and moving film", "label": 1, "label_name": "positive"},
        {"sentence": "beautiful and touching", "label": 1, "label_name": "positive"},
        {"sentence": "a waste of time", "label": 0, "label_name": "negative"},
        {"sentence": "i hated the ending", "label": 0, "label_name": "negative"}])
    b = write_set(tmp_path / "run/sets/dpc_2/set_1.jsonl", [
        {"sentence": "funny , warm and smart", "label": 1}, {"sentence": "the best movie of the year", "label": 1},
        {"sentence": "a dull and boring mess", "label": 0}, {"sentence": "the plot makes no sense", "label": 0}])
    return [describe_set(a), describe_set(b)]


@pytest.fixture()
def counted(monkeypatch):
    """Count learner loads and training runs inside evaluate."""
    return count_calls(monkeypatch, evaluate, load="load_learner", train="train_learner")


def test_evaluate_stores_every_run_and_resumes(tiny_data_dir, tiny_learner_dir, sets, tmp_path, counted):
    ds = load_dataset(DataConfig(dataset=str(tiny_data_dir)))
    learner = evaluate.LearnerSpec(str(tiny_learner_dir), max_length=16, precision="fp32")
    with ResultStore(tmp_path / "r.sqlite") as store:
        new = evaluate.evaluate_sets(sets, [learner], [0, 1], ds.spec, ds.validation, store, PROTOCOL)
        assert len(new) == 4 and counted == {"load": 1, "train": 4}  # loaded once, restored per run
        assert {(r.key.seed, r.dpc, r.method) for r in new} == {(s, 2, "dilm") for s in (0, 1)}
        assert len({r.key.set_hash for r in new}) == 2
        for r in new:
            assert 0 <= r.score <= 100 and r.metric == "accuracy" and r.score == r.metric_values["accuracy"]
            assert r.protocol_fields["steps"] == 2 and r.protocol_fields["precision"] == "fp32"
            assert r.versions["dilm"] and r.machine["device"]
        assert len(store.query()) == 4

        # resume: nothing left to do, nothing loaded or trained
        again = evaluate.evaluate_sets(sets, [learner], [0, 1], ds.spec, ds.validation, store, PROTOCOL)
        assert again == [] and counted == {"load": 1, "train": 4}
        # one more seed: only the new runs
        more = evaluate.evaluate_sets(sets, [learner], [0, 1, 2], ds.spec, ds.validation, store, PROTOCOL)
        assert [r.key.seed for r in more] == [2, 2] and counted["train"] == 6
        # another protocol is another run
        other = evaluate.evaluate_sets(sets[:1], [learner], [0], ds.spec, ds.validation, store, TrainConfig(steps=1))
        assert len(other) == 1 and len(store.query()) == 7

    # a fresh store reproduces a stored score exactly (reset restores the pre-trained learner)
    with ResultStore(tmp_path / "fresh.sqlite") as fresh:
        (redo,) = evaluate.evaluate_sets(sets[1:], [learner], [1], ds.spec, ds.validation, fresh, PROTOCOL)
    first = [r for r in new if r.key == redo.key][0]
    assert redo.metric_values == first.metric_values


def test_bad_set_fails_before_training(tiny_data_dir, tiny_learner_dir, sets, tmp_path, counted):
    ds = load_dataset(DataConfig(dataset=str(tiny_data_dir)))
    bad = write_set(tmp_path / "bad/dpc_1/set_0.jsonl", [{"sentence": "ok", "label": 0},
                                                         {"sentence": "ok", "label": 5}])
    learner = evaluate.LearnerSpec(str(tiny_learner_dir), 16, "fp32")
    with ResultStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(DilmError, match=rf"{bad}, line 2: label 5 is outside"):
            evaluate.evaluate_sets([*sets, describe_set(bad, "mine")], [learner], [0], ds.spec, ds.validation,
                                   store, PROTOCOL)
        assert counted["train"] == 0 and store.query() == []


def test_set_filed_under_another_dataset_is_refused(tiny_data_dir, tmp_path):
    ds = load_dataset(DataConfig(dataset=str(tiny_data_dir)))
    path = write_set(tmp_path / "sets/mrpc/random/dpc_2/set_0.jsonl", [{"sentence": "x", "label": 0}])
    with ResultStore(tmp_path / "r.sqlite") as store, pytest.raises(DilmError, match="dataset 'mrpc'"):
        evaluate.evaluate_sets([describe_set(path)], [], [0], ds.spec, ds.validation, store, PROTOCOL)


def test_cli_evaluate_twice_trains_once(tiny_data_dir, tiny_learner_dir, sets, tmp_path, counted, capsys):
    store = tmp_path / "results.sqlite"
    args = ["evaluate", str(tmp_path / "run" / "sets"), "precision=fp32", "model.max_length=16",
            "--learner", str(tiny_learner_dir), "--runs", "2", "--steps", "2", "--store", str(store),
            "--dataset", str(tiny_data_dir), "--method", "vanilla_lm"]
    assert main(args) == 0
    assert "4 new runs stored" in capsys.readouterr().out
    assert main(args) == 0
    assert "0 new runs stored" in capsys.readouterr().out and counted["train"] == 4
    with ResultStore(store) as s:
        assert {r.method for r in s.query()} == {"vanilla_lm"}
    assert main([*args[:7], "0", *args[8:]]) == 2
    assert "--runs must be >= 1" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing.jsonl"), "--dataset", str(tiny_data_dir)]) == 2
    assert "set file not found" in capsys.readouterr().err


def test_bf16_and_fp32_runs_never_share_a_cell_and_auto_is_never_stored(tiny_data_dir, tiny_learner_dir, sets,
                                                                         tmp_path, counted, capsys, monkeypatch):
    """precision is in the protocol key as resolved: `auto` (faked to fp32 here) joins the fp32 cell."""
    from dilm import precision_probe
    from dilm.report import group_records

    monkeypatch.setattr(precision_probe, "_resolved", {})
    monkeypatch.setenv("DILM_PRECISION_PROBE", "bf16=0.8,fp32=34")
    store = tmp_path / "results.sqlite"
    base = ["evaluate", str(sets[0].path), "model.max_length=16", "--learner", str(tiny_learner_dir),
            "--steps", "1", "--store", str(store), "--dataset", str(tiny_data_dir)]
    for precision, new in (("bf16", 1), ("fp32", 1), ("auto", 0)):
        assert main([*base, f"precision={precision}"]) == 0
        assert f"{new} new runs stored" in capsys.readouterr().out
    with ResultStore(store) as s:
        records = s.query()
    assert sorted(r.protocol_fields["precision"] for r in records) == ["bf16", "fp32"]
    assert len(group_records(records)) == 2 and counted["train"] == 2


def test_protocol_defaults_and_schedule_follow_the_paper():
    cfg = TrainConfig()
    assert (cfg.steps, cfg.lr, cfg.weight_decay, cfg.warmup_ratio, cfg.grad_clip, cfg.batch_size) == \
        (200, 1e-4, 0.01, 0.5, 1.0, 64)
    warmup = int(cfg.warmup_ratio * cfg.steps)  # 100
    assert warmup_cosine(0, 200, warmup) == pytest.approx(0.01)  # linear warm-up: (0 + 1) / 100
    assert warmup_cosine(99, 200, warmup) == pytest.approx(1.0)
    assert warmup_cosine(100, 200, warmup) == pytest.approx(1.0)  # cosine starts at the peak
    assert warmup_cosine(150, 200, warmup) == pytest.approx(0.5)
    assert warmup_cosine(199, 200, warmup) == pytest.approx(0.5 * (1 + math.cos(math.pi * 99 / 100)))


def test_paths_are_described_from_their_layout(tiny_data_dir, tiny_learner_dir, sets, tmp_path):
    ds = load_dataset(DataConfig(dataset=str(tiny_data_dir)))
    learner = evaluate.LearnerSpec(str(tiny_learner_dir), 16, "fp32")
    with ResultStore(tmp_path / "r.sqlite") as store:
        (rec,) = evaluate.evaluate_sets([str(sets[0].path)], [learner], [3], ds.spec, ds.validation, store,
                                        TrainConfig(steps=1))
    assert (rec.method, rec.dpc, rec.key.seed, rec.set_path) == ("dilm", 2, 3, str(sets[0].path))


def test_holdout_runs_score_on_a_train_carve_out_under_their_own_protocol(tiny_data_dir, tiny_learner_dir, sets,
                                                                          tmp_path, capsys):
    """`data.holdout=N` (also after the options) scores on N rows carved out of train, never on validation,
    and such runs are keyed apart from validation-scored ones."""
    from dilm.config import DataConfig
    from dilm.data import load_dataset

    store = tmp_path / "results.sqlite"
    args = ["evaluate", str(tmp_path / "run" / "sets"), "--learner", str(tiny_learner_dir), "--runs", "1",
            "--steps", "2", "--store", str(store), "--dataset", str(tiny_data_dir), "precision=fp32",
            "model.max_length=16"]
    assert main(args) == 0
    assert main([*args, "data.holdout=6"]) == 0  # key=value after the options
    assert "2 new runs stored" in capsys.readouterr().out.splitlines()[-1]
    with ResultStore(store) as s:
        runs = s.query()
    assert len(runs) == 4 and len({r.key.protocol for r in runs}) == 2
    held = [r for r in runs if r.protocol_fields.get("holdout") == 6]
    assert len(held) == 2 and all(r.protocol_fields["holdout_seed"] == 0 for r in held)
    full = load_dataset(DataConfig(dataset=str(tiny_data_dir)))
    carved = load_dataset(DataConfig(dataset=str(tiny_data_dir), holdout=6))
    assert len(carved.train) == len(full.train) - 6 and len(carved.validation) == 6
    from collections import Counter

    rows = lambda split: Counter(zip(split.texts, split.labels))  # noqa: E731
    assert rows(carved.train) + rows(carved.validation) == rows(full.train)  # a partition of train
    # a whole-sentence carve-out is a third protocol; the earlier carve-out runs keep theirs
    assert main([*args, "data.holdout=6", "data.holdout_min_words=5"]) == 0
    with ResultStore(store) as s:
        runs = s.query()
    assert len(runs) == 6 and len({r.key.protocol for r in runs}) == 3
    assert sorted(r.protocol_fields.get("holdout_min_words", 0) for r in runs) == [0, 0, 0, 0, 5, 5]


def test_sets_may_follow_the_options_after_overrides(tiny_data_dir, tiny_learner_dir, sets, tmp_path, capsys):
    """`dilm evaluate key=value --store S SET`: argparse fills the positional list once; the rest is kept."""
    store = tmp_path / "results.sqlite"
    args = ["evaluate", "precision=fp32", "model.max_length=16", "--learner", str(tiny_learner_dir), "--runs", "1",
            "--steps", "2", "--store", str(store), "--dataset", str(tiny_data_dir), str(tmp_path / "run" / "sets")]
    assert main(args) == 0
    assert "2 new runs stored" in capsys.readouterr().out.splitlines()[-1]
    with ResultStore(store) as s:
        assert {r.protocol_fields["max_length"] for r in s.query()} == {16}
