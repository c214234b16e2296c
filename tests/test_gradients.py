"""Closed-form classifier gradient = autograd through the real (tiny) learner and generator, float64.

DiLM never backpropagates through the learner: the classifier layer's gradient has a closed
form in the head inputs h_i, and the matching loss reaches the generator only through the
sample weights a_i = softmax(log p(x_i)). These tests check both claims against autograd.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import NEGATIVE, POSITIVE

from dilm.matching import classifier_grad, match_distance, sample_scores, sample_weights

REAL = [(s,) for s in POSITIVE[:3] + NEGATIVE[:3]]
REAL_LABELS = [1, 1, 1, 0, 0, 0]
SYN = [(s,) for s in POSITIVE[3:7]]
SYN_LABELS = [1, 1, 0, 1]


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.fixture()
def learner64(tiny_learner):
    """The tiny BERT learner in float64, eval mode (no dropout), with input-dependent features.

    At its random init (std 0.02) the pooled features are almost the same for every text,
    which makes every gradient nearly parallel; scaling the dense weights fixes that.
    """
    model = tiny_learner.model.double().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2 and "embeddings" not in name:
                p.mul_(10.0)
    feats = tiny_learner.head_inputs(REAL).double()
    assert (feats - feats.mean(0)).norm(dim=1).mean() > 0.1  # features differ between texts
    return tiny_learner


def head_params(learner) -> tuple[torch.Tensor, torch.Tensor]:
    return learner.head.weight, learner.head.bias


def closed_form(learner, texts, labels, weights) -> torch.Tensor:
    """(C, H + 1) classifier gradient from Learner.head_inputs features."""
    W, b = head_params(learner)
    h = learner.head_inputs(texts).double()
    return classifier_grad(h, torch.tensor(labels), weights, W.detach(), b.detach())


def autograd_grad(learner, texts, labels, weights, create_graph=False) -> torch.Tensor:
    """(C, H + 1) gradient of sum_i a_i CE(learner(x_i), y_i) by autograd through the whole learner."""
    W, b = head_params(learner)
    logits = learner.model(**learner.tokenize(texts)).logits  # (N, C)
    loss = (weights * F.cross_entropy(logits, torch.tensor(labels), reduction="none")).sum()
    gW, gb = torch.autograd.grad(loss, [W, b], create_graph=create_graph)
    return torch.cat([gW, gb[:, None]], dim=1)


def test_head_is_the_bert_classifier(learner64):
    assert learner64.head is learner64.model.classifier
    assert learner64.head.weight.dtype == torch.float64


def test_closed_form_equals_autograd_through_learner(learner64):
    weights = torch.softmax(torch.linspace(-1, 1, len(REAL), dtype=torch.float64), 0)
    closed = closed_form(learner64, REAL, REAL_LABELS, weights)
    auto = autograd_grad(learner64, REAL, REAL_LABELS, weights)
    assert auto.norm() > 1e-3
    assert rel_err(closed, auto) < 1e-5


def test_matching_loss_gradient_in_the_weights_equals_autograd(learner64):
    """d(1 - cos(G_syn(a), G_real)) / da: closed form vs autograd with create_graph, float64 leaf a."""
    uniform = torch.full((len(REAL),), 1.0 / len(REAL), dtype=torch.float64)
    g_real = closed_form(learner64, REAL, REAL_LABELS, uniform)
    grads = []
    for grad_fn in (closed_form, lambda *args: autograd_grad(*args, create_graph=True)):
        a = torch.softmax(torch.linspace(0, 1, len(SYN), dtype=torch.float64), 0).requires_grad_()
        match_distance(grad_fn(learner64, SYN, SYN_LABELS, a), g_real).backward()
        grads.append(a.grad)
    assert grads[1].norm() > 1e-6
    assert rel_err(grads[0], grads[1]) < 1e-5


def generator_grads(gen, seqs, distance_fn) -> dict[str, torch.Tensor]:
    """Gradients of distance_fn(a) w.r.t. every generator parameter, a = softmax(log p(x) / |x|)."""
    gen.model.zero_grad(set_to_none=True)
    logp_sum, n_tokens = gen.token_logprobs(seqs)
    a = sample_weights(sample_scores(logp_sum, n_tokens, "mean"), tau=1.0)
    assert abs(a.sum().item() - 1.0) < 1e-6
    distance_fn(a.double()).backward()
    return {n: p.grad.detach().clone() for n, p in gen.model.named_parameters() if p.grad is not None}


def test_generator_gradient_closed_form_equals_autograd(learner64, tiny_generator):
    gen = tiny_generator
    gen.model.double().eval()
    seqs = gen.encode_many(SYN, SYN_LABELS)
    syn_texts = [gen.decode(s) for s in seqs]
    assert syn_texts == SYN
    uniform = torch.full((len(REAL),), 1.0 / len(REAL), dtype=torch.float64)
    g_real = closed_form(learner64, REAL, REAL_LABELS, uniform)  # constant target

    def closed_distance(a):
        return match_distance(closed_form(learner64, syn_texts, SYN_LABELS, a), g_real)

    def autograd_distance(a):
        return match_distance(autograd_grad(learner64, syn_texts, SYN_LABELS, a, create_graph=True), g_real)

    closed = generator_grads(gen, seqs, closed_distance)
    auto = generator_grads(gen, seqs, autograd_distance)

    assert closed.keys() == auto.keys()
    emb = "model.embed_tokens.weight"
    assert emb in closed and closed[emb].norm() > 0
    for name in closed:
        assert auto[name].norm() > 0, name
        assert rel_err(closed[name], auto[name]) < 1e-5, name
