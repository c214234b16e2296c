"""Step 1: pre-train the generator on `<bos_c> text <eos>` (paper Sec. 3.1, Eq. 1).

Data-parallel under a launcher: every process walks the same seeded batch stream, takes a
round-robin share of each batch, and the gradients are summed over processes; each term is
divided by the global batch size, so the update equals one process's on the whole batch.

Resumable: a checkpoint (weights, optimizer, scheduler, RNG, step) is written every
`checkpoint_every` steps and on Ctrl-C; a rerun continues from it and ends with the same
weights as an uninterrupted run (the batch stream is replayed from its seed).
"""

from __future__ import annotations

import logging
import math
import random
import time
from pathlib import Path

import torch
from tqdm import tqdm

from dilm import checkpoint, dist
from dilm.config import RunConfig
from dilm.data import Dataset
from dilm.errors import DilmError
from dilm.generator import Generator
from dilm.runtime import adamw, autocast, warmup_cosine

log = logging.getLogger(__name__)


def batches(lengths: list[int], batch_size: int, rng: random.Random, bucket: int = 50):
    """Endless shuffled epochs of index batches, length-bucketed to cut padding.

    Each run of `bucket * batch_size` shuffled rows is sorted by length and cut into
    batches, whose order is then shuffled: batches hold similar lengths, epochs stay random.
    """
    n = len(lengths)
    size = min(batch_size, n)
    while True:
        order = list(range(n))
        rng.shuffle(order)
        out = []
        for i in range(0, n, bucket * size):
            chunk = sorted(order[i: i + bucket * size], key=lengths.__getitem__)
            out += [chunk[j: j + size] for j in range(0, len(chunk) - size + 1, size)]
        rng.shuffle(out)
        yield from out


def pretrain(cfg: RunConfig, dataset: Dataset, gen: Generator, out_path: Path, ckpt_path: Path,
             tag: str = "") -> Generator:
    """Train the generator's LM on the training split; the result is an HF folder at `out_path`."""
    pc = cfg.pretrain
    if min(pc.batch_size, len(dataset.train)) < dist.world_size():
        raise DilmError(f"pretrain.batch_size={pc.batch_size} is smaller than the {dist.world_size()} processes")
    seqs = gen.encode_many(dataset.train.texts, dataset.train.labels)  # pre-tokenised once
    model = gen.model
    model.train()
    opt = adamw(model.parameters(), lr=pc.lr, weight_decay=pc.weight_decay)
    warmup = int(pc.warmup_ratio * pc.steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, pc.steps, warmup))
    start = 0
    state = checkpoint.load(ckpt_path, {"generator": model})
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        checkpoint.set_rng_state(state["rng"])
        start = state["step"]
        log.info("pretrain: resuming from the checkpoint at step %d/%d", start, pc.steps)
    stream = batches([len(x) for x in seqs], pc.batch_size, random.Random(cfg.seed))
    for _ in range(start):  # replay the batch order up to the checkpoint
        next(stream)

    def save(step: int) -> None:  # every process holds the same state: the main one writes it
        if dist.is_main():
            checkpoint.save(ckpt_path, {"generator": model}, {
                "step": step, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "rng": checkpoint.rng_state()}, tag)
        dist.barrier()

    t0, tokens = time.time(), 0
    with checkpoint.GracefulInterrupt() as stop:
        for step in tqdm(range(start + 1, pc.steps + 1), desc="pretrain", disable=None):
            rows = next(stream)
            mine = dist.shard(rows)  # this process's share of the global batch
            opt.zero_grad(set_to_none=True)
            local = 0.0
            for k in range(pc.grad_accum):  # gradient accumulation over sequential micro-batches
                part = mine[k * len(mine) // pc.grad_accum: (k + 1) * len(mine) // pc.grad_accum]
                if not part:
                    continue
                with autocast(cfg.precision):
                    loss = gen.lm_loss([seqs[i] for i in part], len(rows))  # its part of Eq. 1's batch mean
                loss.backward()
                local += loss.item()
            loss_value = dist.all_reduce_sum(local)
            if not math.isfinite(loss_value):
                save(step - 1)  # the weights are still those of step - 1
                raise DilmError(f"pretrain: LM loss is {loss_value} at step {step}; the last good state "
                                f"(step {step - 1}) is saved in {ckpt_path} (lower pretrain.lr?)")
            dist.all_reduce_grads(model.parameters())
            torch.nn.utils.clip_grad_norm_(model.parameters(), pc.grad_clip)
            opt.step()
            sched.step()
            tokens += sum(len(seqs[i]) for i in rows)
            if step % pc.log_every == 0 or step == pc.steps:
                log.info("pretrain step %d/%d  lm_loss %.4f  lr %.2e  %.0f tok/s", step, pc.steps,
                         loss_value, sched.get_last_lr()[0], tokens / (time.time() - t0))
            stopping = dist.any_true(stop.requested)
            if (pc.checkpoint_every and step % pc.checkpoint_every == 0) or stopping:
                save(step)
            if stopping:
                raise KeyboardInterrupt
    if dist.is_main():
        gen.save(out_path, {"stage": "pretrain", "step": pc.steps, "done": True, "fingerprint": tag})
    dist.barrier()
    return gen
