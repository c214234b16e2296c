"""How much does the class token steer the generator? Two diagnostics.

- `class_token_cosine`: the cosine between every two class tokens' input embeddings. Tokens
  that start as copies of EOS and barely move stay near 1: the model cannot tell them apart.
- `generative_accuracy`: the generator as a classifier. Each real text x is scored under every
  class token, `log p(x | <bos_c>)`, and the argmax is its prediction. A generator whose class
  token carries the class scores well above the majority class; one that ignores it scores
  about the majority class.
"""

from __future__ import annotations

import torch

from dilm.generator import Generator


def class_token_cosine(gen: Generator) -> torch.Tensor:
    """(C, C) cosine similarity of the class tokens' input embeddings."""
    emb = gen.model.get_input_embeddings().weight.detach().float()[gen.class_token_ids]
    unit = torch.nn.functional.normalize(emb, dim=-1)
    return unit @ unit.T


@torch.no_grad()
def class_loglik(gen: Generator, texts: list[tuple[str, ...]], micro_batch: int = 16,
                 spread: bool = False) -> torch.Tensor:
    """(N, C) summed log-likelihood of each text's tokens after each class token (`spread`: the
    processes of a launch share the work, see `Generator.token_logprobs`)."""
    was_training = gen.model.training
    gen.model.eval()
    seqs = [gen.encode(t, c) for t in texts for c in range(gen.num_classes)]
    total, _ = gen.token_logprobs(seqs, micro_batch, spread=spread)
    gen.model.train(was_training)
    return total.float().view(len(texts), gen.num_classes)


def generative_accuracy(loglik: torch.Tensor, labels: list[int]) -> float:
    """Percent of rows of `loglik` (N, C; from `class_loglik`) whose most likely class is their label."""
    if loglik.shape[0] != len(labels) or not labels:
        raise ValueError(f"need as many labels as texts (and at least one): {loglik.shape[0]} vs {len(labels)}")
    return 100.0 * (loglik.argmax(-1) == torch.tensor(labels)).float().mean().item()
