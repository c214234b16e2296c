"""Gradient-matching maths (paper Eq. 2-5), as pure functions on tensors.

The learner's classifier is logits = W h + b. For a weighted cross-entropy
L = sum_i a_i CE(W h_i + b, y_i) its gradient has the closed form

    dL/d[W | b] = sum_i a_i (softmax(W h_i + b) - onehot(y_i)) (x) [h_i, 1]

so matching the last layer needs no backward pass through the learner.
"""

from __future__ import annotations

import torch


def sample_scores(logp_sum: torch.Tensor, n_tokens: torch.Tensor, score: str = "mean") -> torch.Tensor:
    """Generator score of each sample: log p(x) ("sum", paper) or log p(x) / |x| ("mean")."""
    if score == "sum":
        return logp_sum
    if score == "mean":
        return logp_sum / n_tokens
    raise ValueError(f"unknown score '{score}'")


def sample_weights(scores: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """Paper Eq. 5: a_i = softmax_i(score_i / tau). (N,) -> (N,), sums to 1."""
    return torch.softmax(scores / tau, dim=0)


def classifier_grad(features: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor,
                    W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Closed-form gradient of sum_i weights_i * CE(W h_i + b, y_i) w.r.t. [W | b].

    Args:
        features: (N, H) classifier inputs h_i (treated as constants).
        labels: (N,) int class ids.
        weights: (N,) per-sample loss weights a_i (may carry grad).
        W: (C, H) classifier weight; b: (C,) bias.
    Returns:
        (C, H + 1) gradient; the last column is the bias gradient.
    """
    probs = torch.softmax(features @ W.T + b, dim=-1)  # (N, C)
    onehot = torch.nn.functional.one_hot(labels, W.shape[0]).to(probs.dtype)
    delta = (probs - onehot) * weights.unsqueeze(-1)  # (N, C)
    ones = torch.ones(features.shape[0], 1, dtype=features.dtype, device=features.device)
    return delta.T @ torch.cat([features, ones], dim=1)  # (C, H + 1)


def match_distance(g_syn: torch.Tensor, g_real: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Paper Eq. 3 distance: 1 - cos(g_syn, g_real) over the flattened gradients."""
    a, b = g_syn.flatten(), g_real.flatten()
    return 1 - (a @ b) / (a.norm() * b.norm()).clamp_min(eps)


def weight_entropy(weights: torch.Tensor) -> torch.Tensor:
    """Entropy of the sample weights in nats (log N when uniform): a collapse monitor."""
    w = weights.clamp_min(1e-30)
    return -(w * w.log()).sum()
