"""generate.trials: candidate sets from disjoint parts of the pool, the best on a probe of train kept."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import NEGATIVE, POSITIVE

import dilm.generate as generate
from dilm.config import GenerateConfig, load_config
from dilm.data import DatasetSpec, Split
from dilm.errors import DilmError
from dilm.generator import load_generator
from dilm.io import read_jsonl
from dilm.trials import best, class_search, probe_split

SPEC = DatasetSpec("tiny_sst", ("sentence",), ("negative", "positive"))
TRAIN = Split([(s,) for s in POSITIVE + NEGATIVE], [1] * len(POSITIVE) + [0] * len(NEGATIVE))


def test_best_is_the_highest_score_earliest_on_ties():
    assert best([60.0, 72.5, 70.0]) == 1 and best([70.0, 70.0, 10.0]) == 0


def test_probe_split_is_seeded_and_keeps_long_rows():
    texts = [(" ".join(["w"] * n),) for n in (1, 2, 3, 4, 5, 6)]
    train = Split(texts, [0, 1, 0, 1, 0, 1])
    a, b = probe_split(train, 2, 4, seed=0), probe_split(train, 2, 4, seed=0)
    assert a == b and len(a) == 2 and all(len(t[0].split()) >= 4 for t in a.texts)
    assert len(probe_split(train, 10, 5, seed=0)) == 2  # only two rows have >= 5 words
    assert sorted(probe_split(train, 6, 0, seed=3).texts) == sorted(texts)
    with pytest.raises(DilmError, match="trial_min_words=7: no training row"):
        probe_split(train, 2, 7, seed=0)


@pytest.fixture()
def pretrained(pretrained_generator_dir):
    return load_generator(str(pretrained_generator_dir), 2, pair=False, max_length=16)


def test_trials_keep_the_candidate_that_scores_best_on_the_probe(pretrained, tiny_learner, tmp_path, monkeypatch):
    """trials=2 at DPC 2, oversample 3 (pool of 6 a class): the candidates are picked from rows 0-2 and
    3-5 of each class's pool, each is trained on and scored on the probe, and the best is written
    and recorded in sets/trials.json; the learner's encoder is pre-trained again afterwards."""
    seen = []
    real = generate.trial_scores

    def spy(candidates, learner, spec, probe, seed, protocol=None):
        from dilm.learner import TrainConfig

        scores = real(candidates, learner, spec, probe, seed, TrainConfig(steps=3))
        seen.append((candidates, scores, probe))
        return scores

    monkeypatch.setattr(generate, "trial_scores", spy)
    before = {k: v.clone() for k, v in tiny_learner.pretrained_state.items()}
    cfg = GenerateConfig(dpc=[2], oversample=3, max_new_tokens=20, batch_size=8, trials=2, trial_rows=6)
    (path,) = generate.generate_sets(pretrained, tiny_learner, SPEC, cfg, tmp_path, 0, "mean", train=TRAIN)
    ((candidates, scores, probe),) = seen
    assert len(candidates) == 2 and len(scores) == 2 and all(0 <= s <= 100 for s in scores)
    assert len(probe) == 6 and set(probe.texts) <= set(TRAIN.texts)
    rows = read_jsonl(path)
    chosen = candidates[best(scores)]
    assert [(r["sentence"],) for r in rows] == chosen.texts and [r["label"] for r in rows] == chosen.labels
    record = json.loads((tmp_path / "sets" / "trials.json").read_text())
    assert record == {"sets/dpc_2/set_0.jsonl": {"probe_scores": scores, "chosen": best(scores)}}
    state = tiny_learner.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in before.items() if "classifier" not in k)


def test_one_trial_is_the_plain_pick_and_bad_values_are_refused(pretrained, tiny_learner, tmp_path, monkeypatch):
    def never(*a, **k):
        raise AssertionError("no trial run with trials=1")

    monkeypatch.setattr(generate, "trial_scores", never)
    cfg = GenerateConfig(dpc=[2], oversample=3, max_new_tokens=20, batch_size=8)
    generate.generate_sets(pretrained, tiny_learner, SPEC, cfg, tmp_path, 0, "mean", train=TRAIN)
    assert not (tmp_path / "sets" / "trials.json").exists()
    with pytest.raises(DilmError, match="needs the training rows"):
        generate.generate_sets(pretrained, tiny_learner, SPEC, GenerateConfig(dpc=[2], trials=2), tmp_path / "b", 0,
                               "mean")
    for bad in ("generate.trials=0", "generate.trial_rows=0", "generate.trial_min_words=-1"):
        with pytest.raises(DilmError, match="generate.trials and generate.trial_rows must be >= 1"):
            load_config(None, [bad])
    six = DatasetSpec("six", ("text",), tuple(f"c{i}" for i in range(6)))
    with pytest.raises(DilmError, match="4 candidates and 6 classes make 4096"):  # before any sampling
        generate.generate_sets(None, tiny_learner, six, GenerateConfig(dpc=[2], trials=4, trial_by_class="all"),
                               tmp_path / "c", 0, "mean", train=TRAIN)
    with pytest.raises(DilmError, match="trial_by_class=all picks among trial candidates: "
                                        "it needs generate.trials >= 2"):
        load_config(None, ["generate.trial_by_class=all"])
    with pytest.raises(DilmError, match="generate.trial_by_class"):
        load_config(None, ["generate.trials=2", "generate.trial_by_class=yes"])
    with pytest.raises(DilmError, match="trial_by_class_dpc must be positive integers"):
        load_config(None, ["generate.trials=2", "generate.trial_by_class=all", "generate.trial_by_class_dpc=[0]"])


def test_class_search_scores_candidates_then_one_class_at_a_time():
    """3 candidates, 2 classes. Hand-worked: candidates (0,0)=60, (1,1)=70, (2,2)=65 -> start at (1,1);
    class 0 tries (0,1)=72 and (2,1)=75 -> (2,1); class 1 tries (2,0)=71 (and (2,2) is already scored)
    -> stays (2,1). 3 + 2 + 1 = 6 scores, in 3 calls, none scored twice."""
    table = {(0, 0): 60.0, (1, 1): 70.0, (2, 2): 65.0, (0, 1): 72.0, (2, 1): 75.0, (2, 0): 71.0}
    calls = []

    def score(choices):
        calls.append(list(choices))
        return [table[c] for c in choices]

    kept, scored = class_search(3, 2, score)
    assert kept == (2, 1)
    assert calls == [[(0, 0), (1, 1), (2, 2)], [(0, 1), (2, 1)], [(2, 0)]]
    assert scored == table


def test_class_search_keeps_the_current_choice_on_ties_and_checks_its_input():
    table = {(0, 0): 70.0, (1, 1): 60.0, (1, 0): 70.0, (0, 1): 70.0}
    for how in ("ascent", "all"):
        kept, _ = class_search(2, 2, lambda cs: [table[c] for c in cs], how)
        assert kept == (0, 0)  # (1,0) and (0,1) only tie with it
    kept, scored = class_search(1, 3, lambda cs: [50.0 for _ in cs])
    assert kept == (0, 0, 0) and scored == {(0, 0, 0): 50.0}
    with pytest.raises(DilmError, match="class_search needs"):
        class_search(0, 2, lambda cs: [])
    with pytest.raises(DilmError, match="how must be 'ascent' or 'all'"):
        class_search(2, 2, lambda cs: [0.0] * len(cs), "every")
    with pytest.raises(DilmError, match="4 candidates and 6 classes make 4096 combinations"):
        class_search(4, 6, lambda cs: [0.0] * len(cs), "all")


def test_class_search_all_finds_what_one_ascent_pass_misses():
    """From candidate (0,0) = 70 every one-class change scores lower, so one ascent pass stays; "all"
    scores the 9 choices in one call and keeps (1,2) = 73 (hand-made table)."""
    table = {(0, 0): 70.0, (1, 1): 60.0, (2, 2): 62.0, (0, 1): 64.0, (0, 2): 63.0, (1, 0): 68.0,
             (2, 0): 69.0, (1, 2): 73.0, (2, 1): 61.0}
    calls = []

    def score(choices):
        calls.append(list(choices))
        return [table[c] for c in choices]

    assert class_search(3, 2, score, "ascent")[0] == (0, 0)
    calls.clear()
    kept, scored = class_search(3, 2, score, "all")
    assert kept == (1, 2) and scored == table and len(calls) == 1 and len(calls[0]) == 9


def test_trial_by_class_writes_the_kept_halves(pretrained, tiny_learner, tmp_path, monkeypatch):
    """trial_by_class with a scorer that favours class 0 from candidate 1 and class 1 from candidate 0:
    the set written has each class's rows from those candidates, and trials.json records every choice."""
    calls = []

    def fake(candidates, learner, spec, probe, seed, protocol=None):
        calls.append(candidates)
        return [50.0 + 10 * (split.texts[:2] == halves[0][1]) + 5 * (split.texts[2:] == halves[1][0])
                for split in candidates]

    cfg = GenerateConfig(dpc=[2], oversample=3, max_new_tokens=20, batch_size=8, trials=2, trial_rows=6,
                         trial_by_class="ascent")
    halves = {}
    real_rows = generate.candidate_rows

    def spy_rows(pools, spec, gcfg, k, j, seed, refiner=None):
        rows = real_rows(pools, spec, gcfg, k, j, seed, refiner)
        for c, class_rows in enumerate(rows):
            halves.setdefault(c, {})[j] = [(r["sentence"],) for r in class_rows]
        return rows

    monkeypatch.setattr(generate, "candidate_rows", spy_rows)
    monkeypatch.setattr(generate, "trial_scores", fake)
    (path,) = generate.generate_sets(pretrained, tiny_learner, SPEC, cfg, tmp_path, 0, "mean", train=TRAIN)
    rows = read_jsonl(path)
    assert [(r["sentence"],) for r in rows] == halves[0][1] + halves[1][0]
    assert [r["label"] for r in rows] == [0, 0, 1, 1]
    record = json.loads((tmp_path / "sets" / "trials.json").read_text())["sets/dpc_2/set_0.jsonl"]
    assert record["halves"] == [1, 0] and set(record["by_class"]) == {"0,0", "1,1", "1,0", "0,1"}
    assert record["by_class"]["1,0"] == 65.0 and len(record["probe_scores"]) == 2
    assert sum(len(c) for c in calls) == 4  # 2 candidates, then 1 new choice per class


def test_trial_by_class_all_only_at_its_dpcs(pretrained, tiny_learner, tmp_path, monkeypatch):
    """trial_by_class=all with trial_by_class_dpc=[2]: DPC 2 scores all 4 choices of 2 candidates x 2
    classes in one call; DPC 1 keeps the plain pick (2 candidates)."""
    calls = []

    def fake(candidates, learner, spec, probe, seed, protocol=None):
        calls.append(len(candidates))
        return [float(i) for i in range(len(candidates))]  # the last choice scores best

    monkeypatch.setattr(generate, "trial_scores", fake)
    cfg = GenerateConfig(dpc=[1, 2], oversample=3, max_new_tokens=20, batch_size=8, trials=2, trial_rows=6,
                         trial_by_class="all", trial_by_class_dpc=[2])
    generate.generate_sets(pretrained, tiny_learner, SPEC, cfg, tmp_path, 0, "mean", train=TRAIN)
    assert calls == [2, 4]
    record = json.loads((tmp_path / "sets" / "trials.json").read_text())
    assert record["sets/dpc_1/set_0.jsonl"] == {"probe_scores": [0.0, 1.0], "chosen": 1}
    two = record["sets/dpc_2/set_0.jsonl"]
    assert two["halves"] == [1, 1] and two["by_class"] == {"0,0": 0.0, "0,1": 1.0, "1,0": 2.0, "1,1": 3.0}
