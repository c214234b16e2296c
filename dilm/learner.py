"""The learner: an HF encoder with a fresh linear classification head.

Provides the classifier-head inputs (the features whose closed-form gradient is
matched), pooled sentence embeddings for K-means/K-centers, a reset that truly
restores the pre-trained encoder, and a small reusable training loop.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from dilm.batching import length_chunks
from dilm.errors import DilmError
from dilm.models import load_pretrained
from dilm.runtime import adamw, autocast, device, warmup_cosine

log = logging.getLogger(__name__)

Texts = list[tuple[str, ...]]


def text_lengths(texts: Texts) -> list[int]:
    """Characters of each text (all its fields): the sort key of length-sorted batches."""
    return [sum(len(t) for t in fields) for fields in texts]


def output_layer(model: torch.nn.Module, num_labels: int) -> torch.nn.Linear:
    """The last Linear layer producing `num_labels` logits (BERT: `classifier`)."""
    found = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == num_labels]
    if not found:
        raise DilmError(f"learner {type(model).__name__} has no linear output layer with {num_labels} outputs")
    return found[-1]


class Learner:
    def __init__(self, model, tokenizer, num_labels: int, max_length: int = 64, precision: str = "auto"):
        self.model = model
        self.tokenizer = tokenizer
        self.num_labels = num_labels
        self.max_length = max_length
        self.precision = precision
        self.head = output_layer(model, num_labels)
        # A real copy (clone), not a view: the official DiLM reset kept the updated
        # encoder because its saved state shared memory with the live weights.
        self.pretrained_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def reset(self, seed: int) -> None:
        """Restore every pre-trained weight, then draw a fresh classifier head from `seed`."""
        self.model.load_state_dict(self.pretrained_state)
        gen = torch.Generator().manual_seed(seed)
        std = getattr(self.model.config, "initializer_range", 0.02)
        with torch.no_grad():
            w = torch.randn(self.head.weight.shape, generator=gen) * std
            self.head.weight.copy_(w)
            if self.head.bias is not None:
                self.head.bias.zero_()

    # ---- features -----------------------------------------------------------
    def tokenize(self, texts: Texts) -> dict:
        cols = list(zip(*texts))
        enc = self.tokenizer(*[list(c) for c in cols], padding=True, truncation=True,
                             max_length=self.max_length, return_tensors="pt")
        return {k: v.to(self.device) for k, v in enc.items()}

    @torch.no_grad()
    def _map_sorted(self, texts: Texts, batch_size: int, fn) -> torch.Tensor:
        """Apply `fn(encoded batch) -> (b, H)` over length-sorted batches (little padding), eval mode;
        rows come back in input order."""
        chunks = length_chunks(text_lengths(texts), batch_size)
        order = [i for rows in chunks for i in rows]
        was_training = self.model.training
        self.model.eval()
        try:
            out = []
            for rows in chunks:
                enc = self.tokenize([texts[j] for j in rows])
                with autocast(self.precision, self.device):
                    out.append(fn(enc).float())
        finally:
            self.model.train(was_training)
        rows = torch.cat(out)
        return rows[torch.argsort(torch.tensor(order))]

    def head_inputs(self, texts: Texts, batch_size: int = 128) -> torch.Tensor:
        """(n, H) inputs of the classifier layer, eval mode (no dropout), float32."""
        captured: list[torch.Tensor] = []
        hook = self.head.register_forward_hook(lambda m, inp, out: captured.append(inp[0]))

        def run(enc):
            self.model(**enc)
            return captured.pop()

        try:
            return self._map_sorted(texts, batch_size, run)
        finally:
            hook.remove()

    def embed(self, texts: Texts, pooling: str = "mean", batch_size: int = 128) -> torch.Tensor:
        """(n, H) encoder embeddings on CPU: masked mean of the last hidden states, or the [CLS] state."""
        encoder = self.model.base_model

        def run(enc):
            hidden = encoder(**enc).last_hidden_state.float()  # (B, L, H)
            if pooling == "cls":
                return hidden[:, 0]
            mask = enc["attention_mask"].unsqueeze(-1).float()
            return (hidden * mask).sum(1) / mask.sum(1)

        return self._map_sorted(texts, batch_size, run).cpu()

    # ---- training -----------------------------------------------------------
    def loss(self, texts: Texts, labels: list[int]) -> torch.Tensor:
        """Mean cross-entropy of the batch (one padded batch)."""
        with autocast(self.precision, self.device):
            return self._ce_sum(texts, labels) / len(texts)

    def _ce_sum(self, texts: Texts, labels: list[int]) -> torch.Tensor:
        logits = self.model(**self.tokenize(texts)).logits
        target = torch.tensor(labels, device=self.device)
        return torch.nn.functional.cross_entropy(logits.float(), target, reduction="sum")

    def backward(self, texts: Texts, labels: list[int], micro_batch: int = 0) -> float:
        """Backpropagate the batch's mean cross-entropy through the model; returns its value.

        With `micro_batch` > 0 the rows are sorted by length and split into near-equal chunks
        of at most `micro_batch` rows, each padded only to its own longest row, and the chunk
        gradients are summed with weight |chunk| / |batch|: the same loss and gradient as one
        padded batch (up to dropout draws and float rounding) at a fraction of the padded tokens.
        """
        losses = []
        with autocast(self.precision, self.device):  # one context: weights are cast to bf16 once
            for rows in length_chunks(text_lengths(texts), micro_batch):
                losses.append(self._ce_sum([texts[i] for i in rows], [labels[i] for i in rows]))
        loss = torch.stack(losses).sum() / len(texts)
        loss.backward()
        return loss.item()

    def predict(self, texts: Texts, batch_size: int = 128) -> list[int]:
        """Predicted class of each text (eval mode)."""
        return self._map_sorted(texts, batch_size, lambda enc: self.model(**enc).logits).argmax(-1).tolist()


def length_check(tokenizer, texts: Texts, max_length: int, sample: int = 1000, seed: int = 0) -> tuple[float, int]:
    """(share of texts longer than `max_length` tokens, 99th-percentile length), on a seeded sample
    of at most `sample` texts, counted with the tokenizer's special tokens and without truncation."""
    rows = random.Random(seed).sample(texts, min(sample, len(texts)))
    if not rows:
        return 0.0, 0
    cols = [list(c) for c in zip(*rows)]
    lengths = sorted(len(ids) for ids in tokenizer(*cols, truncation=False)["input_ids"])
    return sum(n > max_length for n in lengths) / len(lengths), lengths[min(len(lengths) - 1, (99 * len(lengths)) // 100)]


def length_warning(tokenizer, texts: Texts, max_length: int) -> str | None:
    """A warning when more than 1% of the texts are cut at `model.max_length`, else None."""
    share, p99 = length_check(tokenizer, texts, max_length)
    if share <= 0.01:
        return None
    return (f"{share:.0%} of the training texts are longer than model.max_length={max_length} learner tokens "
            f"and will be cut (99th percentile: {p99}); consider model.max_length={-(-p99 // 32) * 32}")


def load_learner(name: str, num_labels: int, max_length: int = 64, precision: str = "auto",
                 trust_remote_code: bool = False) -> Learner:
    tokenizer = load_pretrained(AutoTokenizer, name, "learner", trust_remote_code)
    model = load_pretrained(AutoModelForSequenceClassification, name, "learner", trust_remote_code,
                            num_labels=num_labels, dtype=torch.float32)
    if not type(model).__name__.endswith("ForSequenceClassification"):
        raise DilmError(f"learner '{name}' is not a sequence classifier ({type(model).__name__})")
    if getattr(model.config, "pad_token_id", None) is None and tokenizer.pad_token_id is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return Learner(model.to(device()), tokenizer, num_labels, max_length, precision)


@dataclass
class TrainConfig:
    """The paper's evaluation protocol (Maekawa et al. 2024, Sec. 4.1)."""

    steps: int = 200
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.5
    grad_clip: float = 1.0
    batch_size: int = 64  # capped at the set size
    micro_batch: int = 16  # rows per length-sorted chunk of a batch (`Learner.backward`); 0 = one padded batch


def train_learner(learner: Learner, texts: Texts, labels: list[int], cfg: TrainConfig, seed: int) -> None:
    """Train all learner weights on a (small) labelled set, dropout on, warm-up + cosine."""
    rng = random.Random(seed)
    model = learner.model
    model.train()
    opt = adamw(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup = int(cfg.warmup_ratio * cfg.steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, cfg.steps, warmup))
    batch = min(cfg.batch_size, len(labels))
    order: list[int] = []
    for _ in range(cfg.steps):
        if len(order) < batch:
            fresh = list(range(len(labels)))
            rng.shuffle(fresh)
            order += fresh
        idx, order = order[:batch], order[batch:]
        opt.zero_grad(set_to_none=True)
        learner.backward([texts[i] for i in idx], [labels[i] for i in idx], cfg.micro_batch)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
