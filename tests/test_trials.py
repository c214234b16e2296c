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
from dilm.trials import best, probe_split

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
