"""Step 2: gradient matching (paper Algorithm 1, Sec. 3.2-3.3).

    for s in 1..S:                      # outer loop: fresh learner
        reset learner (pre-trained encoder, new head)
        for t in 1..T:                  # inner loop
            for each class c:           # generator step, Eq. 2-5
                real batch   <- representative teacher set (K-centers), next of R
                synth batch  <- diverse mini-batch sampling (K-means of N x I samples)
                a = softmax(score(x_syn) / tau)
                d_c = 1 - cos(grad_real, grad_syn(a))   # classifier layer, closed form
            (+ lm_weight x LM loss on real rows, beyond the paper; 0 by default)
            theta <- theta - lr * grad_theta mean_c d_c
            K learner steps on real data
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from dilm import checkpoint, dist
from dilm.config import DistillConfig, RunConfig
from dilm.coreset import kcenters, kmeans
from dilm.data import Dataset, Split
from dilm.errors import DilmError
from dilm.generator import Generator
from dilm.io import write_json, write_text
from dilm.learner import Learner
from dilm.lora import add_lora, merge_lora
from dilm.matching import (
    classifier_grad,
    match_distance,
    sample_scores,
    sample_weights,
    weight_entropy,
)
from dilm.parallel import assemble, local_rows, sample_parallel
from dilm.readers import read_json_file
from dilm.runtime import adamw, autocast

log = logging.getLogger(__name__)

# Drawing synthetic batches, a 64-sample chunk may drop up to this many x 64 + 100 unfinished or
# unparseable samples before distillation stops (generation allows 20x): a generator the matching
# has broken fails in seconds rather than after many minutes of re-sampling.
MAX_DROPPED_RATIO = 1


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
    precision: str = "auto"
    samples_drawn: int = 0
    samples_dropped: int = 0

    def __post_init__(self):
        self.clusters: dict[int, list[list[list[int]]]] = {}
        self.served: dict[int, int] = {}

    def state(self) -> dict:
        """Everything needed to continue serving the same batches after a resume."""
        return {"clusters": {str(c): v for c, v in self.clusters.items()},
                "served": {str(c): v for c, v in self.served.items()},
                "rng": self.rng.getstate(), "samples_drawn": self.samples_drawn,
                "samples_dropped": self.samples_dropped}

    def load_state(self, state: dict) -> None:
        self.clusters = {int(c): v for c, v in state["clusters"].items()}
        self.served = {int(c): v for c, v in state["served"].items()}
        self.rng.setstate(_as_state(state["rng"]))
        self.samples_drawn = state["samples_drawn"]
        self.samples_dropped = state.get("samples_dropped", 0)  # absent from checkpoints of older versions

    def _draw(self, c: int, n: int) -> list[list[int]]:
        try:
            seqs, dropped = sample_parallel(self.gen, c, n, self.rng.randrange(2**62), top_p=self.cfg.top_p,
                                            max_new_tokens=self.cfg.max_new_tokens, precision=self.precision,
                                            max_dropped_ratio=MAX_DROPPED_RATIO)
        except DilmError as err:
            raise DilmError(f"distill: the generator no longer writes finished texts for class {c} ({err}). "
                            f"After some matching steps, they have broken its language model: lower distill.lr "
                            f"(now {self.cfg.lr:g}) or add an LM term (distill.lm_weight, now "
                            f"{self.cfg.lm_weight:g}). At the first step, the pre-trained generator itself rarely "
                            f"ends a text within distill.max_new_tokens (now {self.cfg.max_new_tokens}): raise it"
                            ) from err
        self.samples_drawn += n
        self.samples_dropped += dropped
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
    Under several processes each scores its share of the synthetic rows (the generator
    forward and backward); the scores are assembled so that every process computes the
    whole loss, and its backward reaches only its own share (sum the gradients after).
    """
    W = learner.head.weight.detach().float()  # (C, H)
    bias = learner.head.bias
    b = bias.detach().float() if bias is not None else torch.zeros(W.shape[0], device=W.device)  # (C,)
    num_classes = len(real_batches)
    # the generator scores every class's synthetic rows in one length-sorted pass (its share of them)
    rows = [s for syn in syn_batches for s in syn]
    with autocast(precision):
        logp_sum, n_tokens = gen.token_logprobs([rows[i] for i in local_rows(len(rows))])
    all_scores = assemble(sample_scores(logp_sum, n_tokens, cfg.score), len(rows))
    # learner features of every class's real and synthetic rows, each in one length-sorted pass
    # (chunks of 32 rows of similar length: little padding)
    h_real_all = learner.head_inputs([t for batch in real_batches for t in batch], batch_size=32).split(
        [len(batch) for batch in real_batches])
    h_syn_all = learner.head_inputs([gen.decode(s) for s in rows], batch_size=32).split(
        [len(syn) for syn in syn_batches])
    dists, entropies, loss, start = [], [], 0.0, 0
    for c in range(num_classes):
        h_real = h_real_all[c]  # (M, H)
        y_real = torch.full((h_real.shape[0],), c, dtype=torch.long, device=h_real.device)
        uniform = torch.full((h_real.shape[0],), 1.0 / h_real.shape[0], device=h_real.device)
        g_real = classifier_grad(h_real, y_real, uniform, W, b)
        syn = syn_batches[c]
        h_syn = h_syn_all[c]  # (N, H)
        a = sample_weights(all_scores[start: start + len(syn)], cfg.tau).to(h_syn.device)
        start += len(syn)
        y_syn = torch.full((len(syn),), c, dtype=torch.long, device=h_syn.device)
        dist = match_distance(classifier_grad(h_syn, y_syn, a, W, b), g_real)
        loss = loss + dist / num_classes
        dists.append(dist.item())
        entropies.append(weight_entropy(a.detach()).item())
    loss.backward()
    return {"gm_distance": sum(dists) / len(dists), "weight_entropy": sum(entropies) / len(entropies)}


def lm_term(gen: Generator, texts: list[tuple[str, ...]], labels: list[int], weight: float,
            precision: str) -> float:
    """Accumulate grad of weight x the pre-training LM loss (Eq. 1) on the rows (`texts`, `labels`)
    into the generator; return the loss (the whole batch's under several processes, each encoding and
    backward reaching this process's share only; sum the gradients after)."""
    mine = dist.shard(list(range(len(texts))))
    local = 0.0
    if mine:
        seqs = gen.encode_many([texts[i] for i in mine], [labels[i] for i in mine])
        with autocast(precision):
            loss = gen.lm_loss(seqs, len(texts))
        (weight * loss).backward()
        local = loss.item()
    return dist.all_reduce_sum(local)


def learner_steps(learner: Learner, opt: torch.optim.Optimizer, train: Split, k: int, batch: int,
                  rng: random.Random, micro_batch: int = 16) -> None:
    """K training steps of the whole learner on random real mini-batches (Algorithm 1, inner loop)."""
    learner.model.train()
    for _ in range(k):
        rows = rng.sample(range(len(train)), min(batch, len(train)))
        opt.zero_grad(set_to_none=True)
        learner.backward([train.texts[i] for i in rows], [train.labels[i] for i in rows], micro_batch)
        opt.step()


def distill(cfg: RunConfig, dataset: Dataset, gen: Generator, learner: Learner, out_path: Path,
            train_features: torch.Tensor, ckpt_path: Path, tag: str = "") -> Generator:
    """Algorithm 1; resumable from `ckpt_path` (generator, learner, optimizers, RNGs, pools, step)."""
    dc = cfg.distill
    if dc.syn_batch < dist.world_size():
        raise DilmError(f"distill.syn_batch={dc.syn_batch} is smaller than the {dist.world_size()} processes")
    if dc.lm_weight and min(dc.lm_batch, len(dataset.train)) < dist.world_size():
        raise DilmError(f"distill.lm_batch={dc.lm_batch} is smaller than the {dist.world_size()} processes")
    C = dataset.spec.num_classes
    train = dataset.train
    groups = train.by_class(C)
    teacher = teacher_sets(cfg, dataset, train_features, out_path.parent / "teacher_sets.json")
    rng = random.Random(cfg.seed)
    lm_rng = random.Random(cfg.seed + 2)  # its own stream: lm_weight=0 leaves every other draw as before
    synth = SyntheticBatches(gen, learner, dc, cfg.features, random.Random(cfg.seed + 1), cfg.precision)
    if dc.lora_rank:
        gen.model = add_lora(gen.model, dc.lora_rank, dc.lora_alpha)
    opt = adamw([p for p in gen.model.parameters() if p.requires_grad], lr=dc.lr, weight_decay=dc.weight_decay)
    learner_opt = adamw(learner.model.parameters(), lr=dc.learner_lr, weight_decay=0.01)
    gen.model.train()
    total = dc.outer_loops * dc.inner_steps
    start, metrics = 0, []
    modules = {"generator": gen.model, "learner": learner.model}
    state = checkpoint.load(ckpt_path, modules)
    if state is not None:
        start, metrics = state["step"], state["metrics"]
        opt.load_state_dict(state["optimizer"])
        learner_opt.load_state_dict(state["learner_optimizer"])
        rng.setstate(_as_state(state["rng"]))
        if "lm_rng" in state:
            lm_rng.setstate(_as_state(state["lm_rng"]))
        synth.load_state(state["synth"])
        checkpoint.set_rng_state(state["global_rng"])
        log.info("distill: resuming from the checkpoint at step %d/%d", start, total)

    def save(step: int) -> None:  # every process holds the same state: the main one writes it
        if dist.is_main():
            checkpoint.save(ckpt_path, modules, {
                "step": step, "metrics": metrics, "optimizer": opt.state_dict(),
                "learner_optimizer": learner_opt.state_dict(), "rng": rng.getstate(), "lm_rng": lm_rng.getstate(),
                "synth": synth.state(), "global_rng": checkpoint.rng_state()}, tag)
        dist.barrier()

    bar = tqdm(total=total, initial=start, desc="distill", disable=None)
    t0, drawn0 = time.time(), synth.samples_drawn
    with checkpoint.GracefulInterrupt() as stop:
        for step in range(start, total):
            s, t = divmod(step, dc.inner_steps)
            if t == 0:  # outer loop: restore the pre-trained encoder, draw a fresh head
                learner.reset(seed=cfg.seed * 100_003 + s)
                learner_opt = adamw(learner.model.parameters(), lr=dc.learner_lr, weight_decay=0.01)
            # ---- real batches: representative teacher (next of R sets) or random
            if teacher is not None:
                idx = teacher[step % len(teacher)]
            else:
                idx = [rng.sample(g, min(dc.real_batch, len(g))) for g in groups]
            real = [[train.texts[i] for i in rows] for rows in idx]
            syn = [synth.next(c) for c in range(C)]
            # ---- generator step (Eq. 2-5)
            opt.zero_grad(set_to_none=True)
            stats = generator_step(gen, learner, real, syn, dc, cfg.precision)
            if dc.lm_weight:
                rows = lm_rng.sample(range(len(train)), min(dc.lm_batch, len(train)))
                stats["lm_loss"] = lm_term(gen, [train.texts[i] for i in rows], [train.labels[i] for i in rows],
                                           dc.lm_weight, cfg.precision)
            dist.all_reduce_grads(gen.model.parameters())  # each process holds its share's term
            grad_norm = torch.nn.utils.clip_grad_norm_(gen.model.parameters(), dc.grad_clip)
            if not torch.isfinite(grad_norm) or not all(math.isfinite(stats[k]) for k in ("gm_distance", "lm_loss")
                                                         if k in stats):
                save(step)
                raise DilmError(f"distill: non-finite gradient-matching loss or gradient at step {step + 1}; "
                                f"the last good state (step {step}) is saved in {ckpt_path}")
            opt.step()
            # ---- K learner steps on real data
            learner_steps(learner, learner_opt, train, dc.learner_steps, dc.learner_batch, rng)
            bar.update(1)
            stats.update(step=step + 1, outer=s, grad_norm=float(grad_norm), samples_dropped=synth.samples_dropped,
                         samples_per_s=(synth.samples_drawn - drawn0) / (time.time() - t0))
            metrics.append(stats)
            if (step + 1) % dc.log_every == 0 or step + 1 == total:
                log.info("distill step %d/%d  gm_distance %.4f  weight_entropy %.3f%s  %.1f samples/s  %d dropped",
                         step + 1, total, stats["gm_distance"], stats["weight_entropy"],
                         f"  lm_loss {stats['lm_loss']:.4f}" if "lm_loss" in stats else "", stats["samples_per_s"],
                         stats["samples_dropped"])
            stopping = dist.any_true(stop.requested)
            if (dc.checkpoint_every and (step + 1) % dc.checkpoint_every == 0) or stopping:
                save(step + 1)
            if stopping:
                raise KeyboardInterrupt
    bar.close()
    gen.model = merge_lora(gen.model)
    if dist.is_main():
        write_text(out_path.parent / "distill_metrics.jsonl", "".join(json.dumps(m) + "\n" for m in metrics))
        gen.save(out_path, {"stage": "distill", "step": total, "done": True, "fingerprint": tag})
    dist.barrier()
    return gen


def teacher_key(features: torch.Tensor, split: Split, size: int, num_sets: int, seed: int) -> dict:
    """What the representative-teacher sets depend on: a cache is reused only under the same key."""
    feats = features.detach().to(torch.float32).contiguous().cpu().numpy().tobytes()
    return {"seed": seed, "size": size, "num_sets": num_sets, "rows": len(split),
            "features": hashlib.sha256(feats).hexdigest()[:16],
            "labels": hashlib.sha256(json.dumps(split.labels).encode()).hexdigest()[:16]}


def teacher_sets(cfg: RunConfig, dataset: Dataset, features: torch.Tensor, cache: Path):
    """The representative-teacher sets, computed once and cached (None when switched off).

    The cache (`{"key": ..., "sets": sets[r][c]}`) is recomputed whenever its key (seed, sizes,
    training rows, a hash of the features and labels) differs from this run's."""
    dc = cfg.distill
    if not dc.representative_teacher:
        return None
    C = dataset.spec.num_classes
    key = teacher_key(features, dataset.train, dc.real_batch, dc.num_teacher_sets, cfg.seed)
    if cache.exists():
        fix = "it is a cache of the representative teacher sets: delete it and rerun to recompute it"
        cached = read_json_file(cache, "teacher-set cache", fix)
        if isinstance(cached, dict) and cached.get("key") == key:
            if not valid_teacher_sets(cached.get("sets"), dc.num_teacher_sets, C, dc.real_batch, len(dataset.train)):
                raise DilmError(f"{cache}: teacher-set cache holds no valid {dc.num_teacher_sets} x {C} x "
                                f"{dc.real_batch} row indices; {fix}")
            return cached["sets"]
        log.info("%s was made for other data or settings: recomputing it", cache)
    teacher = representative_sets(features, dataset.train, C, dc.real_batch, dc.num_teacher_sets, cfg.seed)
    if dist.is_main():
        write_json(cache, {"key": key, "sets": teacher})
    return teacher


def valid_teacher_sets(sets, num_sets: int, num_classes: int, size: int, rows: int) -> bool:
    """Whether `sets` is R x C x M training-row indices (plain ints in 0..rows-1)."""
    def is_list(x, n):
        return isinstance(x, list) and len(x) == n
    return is_list(sets, num_sets) and all(
        is_list(per_class, num_classes) and all(
            is_list(idx, size) and all(type(i) is int and 0 <= i < rows for i in idx) for idx in per_class)
        for per_class in sets)


def _as_state(value):
    """random.Random state back from its saved (list-ified) form."""
    version, internal, gauss = value
    return version, tuple(internal), gauss
