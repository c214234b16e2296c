"""generate.refine=centroid: candidates moved towards a nearest-centroid proxy on real training rows."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import NEGATIVE, POSITIVE

import dilm.generate as generate
import dilm.refine as refine
from dilm.config import GenerateConfig, load_config
from dilm.data import DatasetSpec, Split
from dilm.errors import DilmError
from dilm.generator import load_generator
from dilm.io import read_jsonl
from dilm.refine import build_refiner, centroid_accuracy, centroid_score, local_search, refine_probe

SPEC = DatasetSpec("tiny_sst", ("sentence",), ("negative", "positive"))
TRAIN = Split([(s,) for s in POSITIVE + NEGATIVE], [1] * len(POSITIVE) + [0] * len(NEGATIVE))
E0, E1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])


def test_centroid_score_by_hand():
    """Centroids (1, 0) and (0, 1); a probe row (1, 0) of class 0 has cosines (1, 0): at T = 1 its
    score is 1 - log(e + 1); at T = 0.5, 2 - log(e^2 + 1). Class 0's centroid is the normalised mean."""
    sets = [E0[None], E1[None]]
    assert centroid_score(sets, E0[None], torch.tensor([0]), 1.0) == pytest.approx(1 - math.log(math.e + 1))
    assert centroid_score(sets, E0[None], torch.tensor([0]), 0.5) == pytest.approx(2 - math.log(math.e ** 2 + 1))
    # two rows, one of each class, scored the same way: the mean of both
    probe, labels = torch.stack([E0, E1]), torch.tensor([0, 1])
    assert centroid_score(sets, probe, labels, 1.0) == pytest.approx(1 - math.log(math.e + 1))
    # class 0's set {(1, 0), (0, 1)}: centroid (1, 1)/sqrt 2, so the row's cosines are (1/sqrt 2, 0)
    c = 1 / math.sqrt(2)
    assert centroid_score([torch.stack([E0, E1]), E1[None]], E0[None], torch.tensor([0]), 1.0) == \
        pytest.approx(c - math.log(math.exp(c) + 1))


def test_centroid_accuracy_by_hand():
    probe, labels = torch.stack([E0, E1, E0]), torch.tensor([0, 1, 1])
    assert centroid_accuracy([E0[None], E1[None]], probe, labels) == pytest.approx(200 / 3)


def test_local_search_swaps_in_the_row_that_raises_the_score_and_keeps_ties():
    """Class 0 starts from (0, 1), the other class's direction; its better candidates are (1, 0) and a
    copy of it. The search swaps in the earliest of the two and stops; class 1, already best, stays."""
    pools = [torch.stack([E1, E0, E0]), torch.stack([E1, E0])]
    probe, labels = torch.stack([E0, E1]), torch.tensor([0, 1])
    assert local_search(pools, [[0], [0]], probe, labels, 0.1, passes=3) == [[1], [0]]
    assert local_search(pools, [[1], [0]], probe, labels, 0.1, passes=3) == [[1], [0]]  # nothing to gain
    # a row already in the set is never put in a second place
    two = local_search([torch.stack([E1, E0, E0]), E1[None]], [[0, 1], [0]], probe, labels, 0.1, passes=2)
    assert sorted(two[0]) == [1, 2]


def test_refine_probe_is_seeded_keeps_long_rows_and_leaves_out_the_trial_probe():
    texts = [(" ".join(["w"] * n) + f" {n}",) for n in range(1, 9)]  # 2 .. 9 words, all different
    train = Split(texts, [n % 2 for n in range(1, 9)])
    a, b = refine_probe(train, 3, 5, seed=0), refine_probe(train, 3, 5, seed=0)
    assert a == b and len(a) == 3 and all(len(t[0].split()) >= 5 for t in a.texts)
    held = Split(texts[4:6], train.labels[4:6])  # 6 and 7 words
    c = refine_probe(train, 10, 5, seed=0, exclude=held)
    assert sorted(c.texts) == sorted(texts[3:4] + texts[6:])
    with pytest.raises(DilmError, match="refine_min_words=10: no training row outside the trial probe"):
        refine_probe(train, 3, 10, seed=0)


def test_build_refiner_and_the_config_refuse_bad_values(tiny_learner):
    assert build_refiner("off", None, 10, 0, 0.05, 2, tiny_learner, "mean", 0) is None
    with pytest.raises(DilmError, match="generate.refine='centre': choose from off, centroid"):
        build_refiner("centre", TRAIN, 10, 0, 0.05, 2, tiny_learner, "mean", 0)
    with pytest.raises(DilmError, match="needs the training rows"):
        build_refiner("centroid", None, 10, 0, 0.05, 2, tiny_learner, "mean", 0)
    r = build_refiner("centroid", TRAIN, 4, 0, 0.05, 2, tiny_learner, "mean", 0)
    assert r.probe.shape[0] == 4 and torch.allclose(r.probe.norm(dim=-1), torch.ones(4))
    assert r.labels.tolist() == refine_probe(TRAIN, 4, 0, seed=0).labels  # the seeded rows' own labels
    for bad in ("generate.refine_rows=0", "generate.refine_passes=0", "generate.refine_min_words=-1",
                "generate.refine_temperature=0"):
        with pytest.raises(DilmError, match="generate.refine_rows and generate.refine_passes must be >= 1"):
            load_config(None, [bad])
    with pytest.raises(DilmError, match="generate.refine"):
        load_config(None, ["generate.refine=yes"])


@pytest.fixture()
def pretrained(pretrained_generator_dir):
    return load_generator(str(pretrained_generator_dir), 2, pair=False, max_length=16)


def test_generation_writes_the_refined_rows(pretrained, tiny_learner, tmp_path, monkeypatch):
    """With refine=centroid the set holds what the local search returns: here a fake search that
    moves every place to the last rows the posterior filter kept of its class's part."""
    seen = []

    def last_rows(pools, chosen, probe, labels, temperature, passes):
        seen.append(([p.shape[0] for p in pools], chosen, temperature, passes))
        return [list(range(p.shape[0] - len(c), p.shape[0])) for p, c in zip(pools, chosen)]

    monkeypatch.setattr(refine, "local_search", last_rows)
    texts = {}
    real_pick = generate.class_pick

    def spy_pools(pools, cfg, k, j, c, seed):
        texts[c] = pools[c][0]
        return real_pick(pools, cfg, k, j, c, seed)

    monkeypatch.setattr(generate, "class_pick", spy_pools)
    cfg = GenerateConfig(dpc=[2], oversample=3, max_new_tokens=20, batch_size=8, refine="centroid",
                         refine_rows=6, refine_min_words=0, refine_passes=3, refine_temperature=0.2)
    (path,) = generate.generate_sets(pretrained, tiny_learner, SPEC, cfg, tmp_path, 0, "mean", train=TRAIN)
    assert [s[0] for s in seen] == [[6, 6]] and seen[0][2:] == (0.2, 3)  # no filter: all 3 x 2 rows a class
    rows = read_jsonl(path)
    assert [(r["sentence"], r["label"]) for r in rows] == \
        [(texts[c][i][0], c) for c in range(2) for i in (4, 5)]


def test_the_cpu_preset_refines_and_its_change_redoes_only_the_generation():
    """The `cpu` preset refines its candidates; a run folder that an unrefined preset generated keeps its
    pre-trained and distilled generators (same tags) but not its sets (another generation tag)."""
    from dilm import pipeline

    now, before = load_config("cpu", []), load_config("cpu", ["generate.refine=off"])
    assert now.generate.refine == "centroid" and now.generate.trials == 4
    for stage in ("pretrain", "distill"):
        assert pipeline.fingerprint(now, stage, "g") == pipeline.fingerprint(before, stage, "g")
    assert pipeline.fingerprint(now, "generate", "g") != pipeline.fingerprint(before, "generate", "g")
