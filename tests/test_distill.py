"""One gradient-matching generator step (paper Algorithm 1, inner loop) moves the generator."""

from __future__ import annotations

import json
import math

import torch
from conftest import NEGATIVE, POSITIVE

from dilm.config import DistillConfig, RunConfig
from dilm.data import Dataset, DatasetSpec, Split
from dilm.distill import generator_step, representative_sets, teacher_key, teacher_sets


def batches(gen):
    """Real texts per class and synthetic token sequences per class (encoded real texts)."""
    real = [[(s,) for s in NEGATIVE[:4]], [(s,) for s in POSITIVE[:4]]]
    syn = [gen.encode_many([(s,) for s in NEGATIVE[4:7]], [0] * 3),
           gen.encode_many([(s,) for s in POSITIVE[4:7]], [1] * 3)]
    return real, syn


def test_generator_step_moves_generator_parameters(tiny_generator, tiny_learner):
    gen, learner = tiny_generator, tiny_learner
    learner.reset(seed=0)
    real, syn = batches(gen)
    before = {n: p.detach().clone() for n, p in gen.model.named_parameters()}
    learner_before = {n: p.detach().clone() for n, p in learner.model.named_parameters()}
    opt = torch.optim.Adam(gen.model.parameters(), lr=1e-3)
    opt.zero_grad(set_to_none=True)

    stats = generator_step(gen, learner, real, syn, DistillConfig(), precision="fp32")
    opt.step()

    assert 0.0 <= stats["gm_distance"] <= 2.0
    # weights are a softmax over N = 3 samples: entropy in (0, log 3]
    assert 0.0 < stats["weight_entropy"] <= math.log(3) + 1e-6
    with_grad = {n for n, p in gen.model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert "model.embed_tokens.weight" in with_grad  # tied with the LM head
    assert any(".mlp." in n for n in with_grad) and any("self_attn" in n for n in with_grad)
    for name, p in gen.model.named_parameters():
        if name in with_grad:
            assert not torch.equal(p.detach(), before[name]), f"{name} got a gradient but did not move"
    # the learner is only read: no gradient reaches it, no weight changes
    for name, p in learner.model.named_parameters():
        assert p.grad is None, name
        assert torch.equal(p.detach(), learner_before[name]), name


def test_generator_step_gradient_flows_only_through_sample_weights(tiny_generator, tiny_learner):
    """With every synthetic sample identical, the weights cannot change G_syn: zero gradient."""
    gen, learner = tiny_generator, tiny_learner
    learner.reset(seed=1)
    real, _ = batches(gen)
    same = [[gen.encode((NEGATIVE[5],), 0)] * 3, [gen.encode((POSITIVE[5],), 1)] * 3]
    gen.model.zero_grad(set_to_none=True)
    generator_step(gen, learner, real, same, DistillConfig(), precision="fp32")
    grads = [p.grad for p in gen.model.parameters() if p.grad is not None]
    assert grads, "the step should still backpropagate into the generator"
    assert max(g.abs().max().item() for g in grads) < 1e-6


def test_representative_sets_pick_class_rows(tiny_learner):
    texts = [(s,) for s in NEGATIVE + POSITIVE]
    split = Split(texts, [0] * 8 + [1] * 8)
    feats = tiny_learner.embed(texts)
    sets = representative_sets(feats, split, num_classes=2, size=3, num_sets=2, seed=0)
    assert len(sets) == 2
    for per_class in sets:
        assert [len(rows) for rows in per_class] == [3, 3]
        for c, rows in enumerate(per_class):
            assert len(set(rows)) == 3
            assert all(split.labels[i] == c for i in rows)


def test_teacher_sets_cache_is_reused_only_under_the_same_key(tmp_path):
    """teacher_sets.json is reused for the same features/labels/seed, recomputed for any other."""
    split = Split([(f"t{i}",) for i in range(12)], [0, 1] * 6)
    data = Dataset(DatasetSpec("toy", ("sentence",), ("a", "b")), split, None)
    cfg = RunConfig(seed=3)
    cfg.distill.real_batch, cfg.distill.num_teacher_sets = 2, 2
    feats = torch.randn(12, 5, generator=torch.Generator().manual_seed(0))
    cache = tmp_path / "teacher_sets.json"
    first = teacher_sets(cfg, data, feats, cache)
    assert first == representative_sets(feats, split, 2, 2, 2, seed=3)
    # a cache under this run's key is returned as stored (marker rows prove it was not recomputed)
    stored = json.loads(cache.read_text())
    assert stored["key"] == teacher_key(feats, split, 2, 2, 3)
    marker = [[[0, 2], [1, 3]], [[4, 6], [5, 7]]]
    cache.write_text(json.dumps({"key": stored["key"], "sets": marker}))
    assert teacher_sets(cfg, data, feats, cache) == marker
    # other features (e.g. another feature kind), another seed, an old list-only cache: recomputed
    other = feats + 1.0
    assert teacher_sets(cfg, data, other, cache) == representative_sets(other, split, 2, 2, 2, seed=3)
    cache.write_text(json.dumps({"key": stored["key"], "sets": marker}))
    cfg.seed = 4
    assert teacher_sets(cfg, data, feats, cache) == representative_sets(feats, split, 2, 2, 2, seed=4)
    cache.write_text(json.dumps(marker))
    assert teacher_sets(cfg, data, feats, cache) == representative_sets(feats, split, 2, 2, 2, seed=4)
    assert json.loads(cache.read_text())["key"] == teacher_key(feats, split, 2, 2, 4)
