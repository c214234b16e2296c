"""One gradient-matching generator step (paper Algorithm 1, inner loop) moves the generator."""

from __future__ import annotations

import math

import torch
from conftest import NEGATIVE, POSITIVE

from dilm.config import DistillConfig
from dilm.data import Split
from dilm.distill import generator_step, representative_sets


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
