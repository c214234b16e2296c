"""Gradient-matching maths (paper Eq. 2-5) against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dilm.matching import (
    classifier_grad,
    match_distance,
    sample_scores,
    sample_weights,
    weight_entropy,
)


def test_sample_scores_sum_and_mean():
    logp_sum = torch.tensor([-6.0, -10.0, -3.0])
    n_tokens = torch.tensor([3.0, 4.0, 1.0])
    assert sample_scores(logp_sum, n_tokens, "sum").tolist() == [-6.0, -10.0, -3.0]
    assert sample_scores(logp_sum, n_tokens, "mean").tolist() == [-2.0, -2.5, -3.0]
    with pytest.raises(ValueError, match="unknown score"):
        sample_scores(logp_sum, n_tokens, "max")


def test_sample_weights_are_softmax_of_scores_over_tau():
    scores = torch.tensor([0.0, math.log(2.0), math.log(5.0)])
    a = sample_weights(scores)
    torch.testing.assert_close(a, torch.tensor([1 / 8, 2 / 8, 5 / 8]))
    # tau = 2: weights ~ exp(score / 2) = [1, sqrt 2, sqrt 5]
    a2 = sample_weights(scores, tau=2.0)
    z = 1 + math.sqrt(2) + math.sqrt(5)
    torch.testing.assert_close(a2, torch.tensor([1 / z, math.sqrt(2) / z, math.sqrt(5) / z]))
    # shift-invariant and sums to 1 even for very negative log-likelihoods
    far = sample_weights(torch.tensor([-1000.0, -1000.0 + math.log(3.0)]))
    torch.testing.assert_close(far, torch.tensor([0.25, 0.75]))
    for w in (a, a2, far):
        assert abs(w.sum().item() - 1.0) < 1e-6


def test_sample_weights_carry_gradient():
    scores = torch.tensor([0.5, -0.2, 1.0], requires_grad=True)
    a = sample_weights(scores)
    a[0].backward()
    # d softmax_0 / d s_j = a_0 (delta_0j - a_j)
    expected = a.detach()[0] * (torch.tensor([1.0, 0.0, 0.0]) - a.detach())
    torch.testing.assert_close(scores.grad, expected)


def test_match_distance_parallel_orthogonal_opposite():
    g = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    assert match_distance(g, 3 * g).item() == pytest.approx(0.0, abs=1e-6)
    assert match_distance(g, -0.5 * g).item() == pytest.approx(2.0, abs=1e-6)
    ortho = torch.tensor([[2.0, -1.0], [1.0, 3.0]])  # <g, ortho> = 2 - 2 + 3 - 3 = 0
    assert match_distance(g, ortho).item() == pytest.approx(1.0, abs=1e-6)
    # 45 degrees: 1 - cos(pi / 4)
    assert match_distance(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])).item() == pytest.approx(
        1 - math.sqrt(0.5), abs=1e-6)


def test_match_distance_of_zero_gradient_is_finite():
    d = match_distance(torch.zeros(3), torch.tensor([1.0, 2.0, 3.0]))
    assert torch.isfinite(d) and d.item() == pytest.approx(1.0)


def test_weight_entropy():
    for n in (1, 4, 16):
        assert weight_entropy(torch.full((n,), 1.0 / n)).item() == pytest.approx(math.log(n), abs=1e-6)
    assert weight_entropy(torch.tensor([1.0, 0.0, 0.0])).item() == pytest.approx(0.0, abs=1e-6)
    by_hand = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert weight_entropy(torch.tensor([0.25, 0.75])).item() == pytest.approx(by_hand, abs=1e-6)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classifier_grad_equals_autograd(seed):
    """Closed form of d/d[W|b] sum_i a_i CE(W h_i + b, y_i), float64."""
    gen = torch.Generator().manual_seed(seed)
    n, h, c = 7, 5, 3
    feats = torch.randn(n, h, generator=gen, dtype=torch.float64)
    labels = torch.randint(c, (n,), generator=gen)
    weights = torch.softmax(torch.randn(n, generator=gen, dtype=torch.float64), 0)
    W = torch.randn(c, h, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(c, generator=gen, dtype=torch.float64, requires_grad=True)

    loss = (weights * F.cross_entropy(feats @ W.T + b, labels, reduction="none")).sum()
    gW, gb = torch.autograd.grad(loss, [W, b])
    closed = classifier_grad(feats, labels, weights, W.detach(), b.detach())

    assert closed.shape == (c, h + 1)
    assert rel_err(closed[:, :h], gW) < 1e-10
    assert rel_err(closed[:, h], gb) < 1e-10


def test_classifier_grad_is_differentiable_in_the_weights():
    """d/da of the closed form equals autograd's second derivative d^2 L / (dW da)."""
    gen = torch.Generator().manual_seed(3)
    feats = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 1, 1, 0])
    W = torch.randn(2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    probe = torch.randn(2, 4, generator=gen, dtype=torch.float64)  # random direction in [W | b] space

    a1 = torch.full((4,), 0.25, dtype=torch.float64, requires_grad=True)
    (classifier_grad(feats, labels, a1, W.detach(), b.detach()) * probe).sum().backward()

    a2 = torch.full((4,), 0.25, dtype=torch.float64, requires_grad=True)
    loss = (a2 * F.cross_entropy(feats @ W.T + b, labels, reduction="none")).sum()
    gW, gb = torch.autograd.grad(loss, [W, b], create_graph=True)
    (torch.cat([gW, gb[:, None]], 1) * probe).sum().backward()

    assert rel_err(a1.grad, a2.grad) < 1e-10


def test_classifier_grad_by_hand():
    """One sample, two classes, W = 0, b = 0: probs = [1/2, 1/2], y = 0 -> delta = [-1/2, 1/2]."""
    h = torch.tensor([[2.0, -4.0]])
    g = classifier_grad(h, torch.tensor([0]), torch.tensor([1.0]), torch.zeros(2, 2), torch.zeros(2))
    torch.testing.assert_close(g, torch.tensor([[-1.0, 2.0, -0.5], [1.0, -2.0, 0.5]]))
    # weights scale the gradient linearly
    g3 = classifier_grad(h, torch.tensor([0]), torch.tensor([3.0]), torch.zeros(2, 2), torch.zeros(2))
    torch.testing.assert_close(g3, 3 * g)
