"""Step 2: gradient matching (paper Algorithm 1, Sec. 3.2-3.3).

    for s in 1..S:                      # outer loop: fresh learner
        reset learner (pre-trained encoder, new head)
        for t in 1..T:                  # inner loop
            for each class c:           # generator step, Eq. 2-5
                real batch   <- representative teacher set (K-centers), next of R
                synth batch  <- diverse mini-batch sampling (K-means of N x I samples)
                a = softmax(score(x_syn) / tau)
                d_c = 1 - cos(grad_real, grad_syn(a))   # classifier layer, closed form
            theta <- theta - lr * grad_theta mean_c d_c
            K learner steps on real data
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from dilm.config import DistillConfig, RunConfig
from dilm.coreset import kcenters, kmeans
from dilm.data import Dataset, Split
from dilm.errors import DilmError
from dilm.generator import Generator
from dilm.io import write_json, write_text
from dilm.learner import Learner
from dilm.matching import classifier_grad, match_distance, sample_scores, sample_weights, weight_entropy
from dilm.runtime import autocast

log = logging.getLogger(__name__)


def representative_sets(features: torch.Tensor, split: Split, num_classes: int, size: int,
                        num_sets: int, seed: int) -> list[list[list[int]]]:
    """R teacher sets: per class, K-centers (k = size) of that class's real rows; seeds differ per set.

    Returns:
        sets[r][c] = list of row indices into the split.
    """
    groups = split.by_class(num_classes)
    sets = []
    for r in range(num_sets):
        per_class = []
        for c, rows in enumerate(groups):
            if len(rows) < size:
                raise DilmError(f"class {c} has {len(rows)} training rows, fewer than the teacher size "
                                f"distill.real_batch={size}")
            chosen = kcenters(features[rows], size, seed=seed + 1000 * r + c)
            per_class.append([rows[i] for i in chosen])
        sets.append(per_class)
    return sets


@dataclass
class SyntheticBatches:
    """Synthetic mini-batches per class; with diverse sampling, one sample from each of N clusters.

    Every I steps a pool of N x I samples per class is drawn and K-means'd into N clusters on
    learner features; each step then takes one unused sample from every cluster.
    """

    gen: Generator
    learner: Learner
    cfg: DistillConfig
    features: str
    rng: random.Random
    precision: str = "bf16"
    samples_drawn: int = 0

    def __post_init__(self):
        self.clusters: dict[int, list[list[list[int]]]] = {}
        self.served: dict[int, int] = {}

    def _draw(self, c: int, n: int) -> list[list[int]]:
        seqs, _ = self.gen.sample(c, n, self.cfg.top_p, self.cfg.max_new_tokens,
                                  precision=self.precision)
        self.samples_drawn += n
        return seqs

    def next(self, c: int) -> list[list[int]]:
        n = self.cfg.syn_batch
        if not self.cfg.diverse_sampling:
            return self._draw(c, n)
        if self.served.get(c, self.cfg.resample_interval) >= self.cfg.resample_interval:
            pool = self._draw(c, n * self.cfg.resample_interval)
            emb = self.learner.embed([self.gen.decode(s) for s in pool], self.features)
            _, assign = kmeans(emb, n, seed=self.rng.randrange(2**31))
            clusters = [[pool[i] for i in range(len(pool)) if assign[i] == k] for k in range(n)]
            for members in clusters:
                self.rng.shuffle(members)
            self.clusters[c] = [m for m in clusters if m]
            self.served[c] = 0
        j = self.served[c]
        self.served[c] += 1
        batch = [m[j % len(m)] for m in self.clusters[c]]
        while len(batch) < n:  # fewer non-empty clusters than N: fill from random clusters
            m = self.rng.choice(self.clusters[c])
            batch.append(self.rng.choice(m))
        return batch


def generator_step(gen: Generator, learner: Learner, real_batches: list[list[tuple[str, ...]]],
                   syn_batches: list[list[list[int]]], cfg: DistillConfig, precision: str) -> dict:
    """Accumulate grad of mean_c (1 - cos(g_real_c, g_syn_c)) into the generator; return stats.

    Real and synthetic classifier gradients use the closed form on head inputs computed
    without grad; the loss reaches the generator only through the sample weights a_i.
    """
    W = learner.head.weight.detach().float()  # (C, H)
    b = learner.head.bias.detach().float() if learner.head.bias is not None else torch.zeros(W.shape[0])
    num_classes = len(real_batches)
    dists, entropies = [], []
    for c in range(num_classes):
        h_real = learner.head_inputs(real_batches[c])  # (M, H)
        y_real = torch.full((h_real.shape[0],), c, dtype=torch.long, device=h_real.device)
        uniform = torch.full((h_real.shape[0],), 1.0 / h_real.shape[0], device=h_real.device)
        g_real = classifier_grad(h_real, y_real, uniform, W, b)
        syn = syn_batches[c]
        h_syn = learner.head_inputs([gen.decode(s) for s in syn])  # (N, H)
        with autocast(precision):
            logp_sum, n_tokens = gen.token_logprobs(syn)
        a = sample_weights(sample_scores(logp_sum, n_tokens, cfg.score), cfg.tau).to(h_syn.device)
        y_syn = torch.full((len(syn),), c, dtype=torch.long, device=h_syn.device)
        dist = match_distance(classifier_grad(h_syn, y_syn, a, W, b), g_real)
        (dist / num_classes).backward()
        dists.append(dist.item())
        entropies.append(weight_entropy(a.detach()).item())
    return {"gm_distance": sum(dists) / len(dists), "weight_entropy": sum(entropies) / len(entropies)}


def distill(cfg: RunConfig, dataset: Dataset, gen: Generator, learner: Learner, out_path: Path,
            train_features: torch.Tensor) -> Generator:
    dc = cfg.distill
    C = dataset.spec.num_classes
    train = dataset.train
    rng = random.Random(cfg.seed)
    groups = train.by_class(C)
    # Representative teacher: computed once, cached beside the outputs (R x C x M; recomputed
    # when distill.num_teacher_sets or distill.real_batch changed since).
    if dc.representative_teacher:
        cache = out_path.parent / "teacher_sets.json"
        teacher = json.loads(cache.read_text()) if cache.exists() else None
        shape = [[dc.real_batch] * C] * dc.num_teacher_sets
        if teacher is None or [[len(rows) for rows in sets] for sets in teacher] != shape:
            teacher = representative_sets(train_features, train, C, dc.real_batch, dc.num_teacher_sets, cfg.seed)
            write_json(cache, teacher)
    synth = SyntheticBatches(gen, learner, dc, cfg.features, random.Random(cfg.seed + 1), cfg.precision)
    opt = torch.optim.AdamW(gen.model.parameters(), lr=dc.lr, weight_decay=dc.weight_decay)
    gen.model.train()
    metrics_path = out_path.parent / "distill_metrics.jsonl"
    metrics = []
    total = dc.outer_loops * dc.inner_steps
    bar = tqdm(total=total, desc="distill", disable=None)
    t0, step = time.time(), 0
    for s in range(dc.outer_loops):
        learner.reset(seed=cfg.seed * 100_003 + s)  # outer loop: restore encoder, fresh head
        learner_opt = torch.optim.AdamW(learner.model.parameters(), lr=dc.learner_lr)
        for t in range(dc.inner_steps):
            # ---- real batches: representative teacher (next of R sets) or random
            if dc.representative_teacher:
                idx = teacher[step % len(teacher)]
            else:
                idx = [rng.sample(g, min(dc.real_batch, len(g))) for g in groups]
            real = [[train.texts[i] for i in rows] for rows in idx]
            syn = [synth.next(c) for c in range(C)]
            # ---- generator step
            opt.zero_grad(set_to_none=True)
            stats = generator_step(gen, learner, real, syn, dc, cfg.precision)
            grad_norm = torch.nn.utils.clip_grad_norm_(gen.model.parameters(), dc.grad_clip)
            if not torch.isfinite(grad_norm):
                raise FloatingPointError(f"distill: non-finite generator gradient at step {step + 1}")
            opt.step()
            # ---- K learner steps on real data
            learner.model.train()
            for _ in range(dc.learner_steps):
                rows = rng.sample(range(len(train)), min(dc.learner_batch, len(train)))
                loss = learner.loss([train.texts[i] for i in rows], [train.labels[i] for i in rows])
                learner_opt.zero_grad(set_to_none=True)
                loss.backward()
                learner_opt.step()
            step += 1
            bar.update(1)
            stats.update(step=step, outer=s, grad_norm=float(grad_norm),
                         samples_per_s=synth.samples_drawn / (time.time() - t0))
            metrics.append(stats)
            if step % dc.log_every == 0 or step == total:
                log.info("distill step %d/%d  gm_distance %.4f  weight_entropy %.3f  %.1f samples/s",
                         step, total, stats["gm_distance"], stats["weight_entropy"], stats["samples_per_s"])
    bar.close()
    write_text(metrics_path, "".join(json.dumps(m) + "\n" for m in metrics))
    gen.save(out_path, {"stage": "distill", "step": step, "done": True})
    return gen
