"""Performance benchmark (issue 4): the machine's ceiling and the cost of each DiLM stage, in one run.

Measures, on one dataset with one generator and one learner:
    ceiling      best bf16 and fp32 square-matmul rate (GFLOP/s), and the CPU capability string
    gm step      one generator update of gradient matching, two forms on the same samples:
                 the straightforward form written here (autograd through the learner,
                 fp32, padded, activation checkpointing) and the tool's `generator_step`;
                 their fp32 generator gradients must agree (relative error < 1e-4)
    learner      K learner steps on real data
    generation   top-p sampling throughput (`Generator._sample_batch`, the core of `sample`)
    evaluation   one `train_learner` run on a DPC-k set of real rows
    k-centers    a representative-teacher set on the training features; random (n, d) features
and the peak resident memory of each part. The tool's parts run in the precision `auto` resolves
to on this machine (bf16 or fp32, recorded). `dilm.bench_report` prints the table and writes
docs/results/bench.json and docs/performance.md; nothing here is used by the tool itself.
"""

from __future__ import annotations

import datetime
import logging
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from dilm.config import DataConfig, DistillConfig
from dilm.coreset import kcenters
from dilm.data import Split, load_dataset
from dilm.distill import generator_step, learner_steps, representative_sets
from dilm.errors import DilmError
from dilm.features import embeddings
from dilm.generator import Generator, load_generator
from dilm.learner import Learner, TrainConfig, load_learner, train_learner
from dilm.precision_probe import cpu_capability, cpu_name, resolve
from dilm.runtime import PeakRss, adamw, autocast, process_peak_gb, set_threads

log = logging.getLogger(__name__)

GRAD_TOLERANCE = 1e-4  # fp32 relative error allowed between the two gradient-matching forms


@dataclass(frozen=True)
class BenchSizes:
    matmul: int = 2048  # n of the (n, n) @ (n, n) ceiling matmul
    syn_per_class: int = 16  # N
    real_per_class: int = 64  # M
    gm_warmup: int = 1
    gm_steps: int = 5  # timed generator updates per form (median reported)
    learner_steps: int = 5  # K
    learner_batch: int = 32
    learner_repeats: int = 3  # timed K-step blocks (median reported)
    gen_batches: tuple[int, ...] = (32, 64)
    gen_new_tokens: int = 48  # distill.max_new_tokens: SST-2-length texts
    eval_dpc: int = 20
    eval_steps: int = 200  # TrainConfig().steps, the paper protocol
    train_rows: int | None = None  # subsample of train for the feature/k-centers part (None = all)
    kcenters_k: int = 64  # per class: one representative-teacher set (k = M)
    random_rows: int = 400_000
    random_dim: int = 768
    random_k: int = 100
    lora_rank: int = 16  # the LoRA variant of the gm update


SIZES = {
    "full": BenchSizes(),
    "quick": BenchSizes(matmul=1024, syn_per_class=8, real_per_class=16, gm_steps=2, learner_repeats=1,
                        gen_batches=(32,), gen_new_tokens=24, eval_steps=20, train_rows=8000,
                        random_rows=50_000),
    "tiny": BenchSizes(matmul=128, syn_per_class=4, real_per_class=6, gm_steps=2, learner_steps=2,
                       learner_batch=8, learner_repeats=1, gen_batches=(4, 8), gen_new_tokens=12,
                       eval_dpc=4, eval_steps=4, kcenters_k=3, random_rows=2000, random_dim=32,
                       random_k=10),
}


@dataclass
class BenchOptions:
    generator: str = "smollm2-135m"
    learner: str = "minilm-l6"
    dataset: str = "sst2"
    sizes: str = "full"
    seed: int = 0
    command: str = "dilm bench"  # recorded with the results
    precision: str = "auto"  # of the tool's parts, resolved for this machine (the ceiling measures both)


# ---- measuring ------------------------------------------------------------------------------
def median_time(fn: Callable[[], object], warmup: int, repeats: int) -> tuple[float, list[float]]:
    """Median wall time of `fn` over `repeats` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def matmul_gflops(m: int, k: int, n: int, dtype: torch.dtype, repeats: int = 5) -> float:
    """Best rate (GFLOP/s) of an (m, k) @ (k, n) matmul, 2mkn flops, over `repeats` timings. Each
    timing loops the product often enough (~2 GFLOP) that small shapes are not timer noise."""
    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
    flops = 2 * m * k * n
    loops = max(1, int(2e9 // flops))

    def product() -> None:
        for _ in range(loops):
            a @ b

    product()
    best = min(median_time(product, 0, 1)[0] for _ in range(repeats))
    return flops * loops / best / 1e9


def machine_info() -> dict:
    import transformers

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"platform": platform.platform(), "cpu": cpu_name(), "cpu_capability": cpu_capability(), "cores": cores,
            "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "threads": torch.get_num_threads()}


# ---- the straightforward gradient-matching step (the comparison, not used by the tool) -------
def naive_scores(gen: Generator, seqs: list[list[int]]) -> torch.Tensor:
    """(B,) log p(x) / |x| of each sequence after its class prefix, right-padded to the batch maximum,
    the softmax over the tokens that can be targets (as the generator scores them)."""
    dev = next(gen.model.parameters()).device
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), gen.pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)], mask[i, : len(s)] = torch.tensor(s), 1
    ids, mask = ids.to(dev), mask.to(dev)
    logits = gen.model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, :-1].float()  # (B, L-1, V)
    logits[..., gen.never_targets] = float("-inf")
    logp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)  # (B, L-1)
    keep = mask[:, 1:].float()
    for i, s in enumerate(seqs):
        keep[i, : gen.prefix_length(s) - 1] = 0  # positions that predict the prefix itself
    return (logp * keep).sum(-1) / keep.sum(-1)


def naive_head_grad(learner: Learner, texts, label: int, weights: torch.Tensor,
                    create_graph: bool) -> torch.Tensor:
    """(C, H + 1) gradient of sum_i w_i CE(learner(x_i), label) w.r.t. the classifier [W | b], by
    autograd through the whole learner (fp32, eval mode)."""
    logits = learner.model(**learner.tokenize(texts)).logits.float()  # (B, C)
    y = torch.full((len(texts),), label, dtype=torch.long, device=logits.device)
    loss = (weights * F.cross_entropy(logits, y, reduction="none")).sum()
    params = [learner.head.weight] + ([learner.head.bias] if learner.head.bias is not None else [])
    grads = torch.autograd.grad(loss, params, create_graph=create_graph)
    return torch.cat([grads[0], grads[1][:, None]], 1) if len(grads) == 2 else grads[0]


def naive_generator_step(gen: Generator, learner: Learner, real, syn) -> float:
    """Accumulate grad of mean_c (1 - cos(g_real_c, g_syn_c)) into the generator, straightforwardly."""
    learner.model.eval()
    total = 0.0
    for c in range(len(real)):
        uniform = torch.full((len(real[c]),), 1.0 / len(real[c]), device=learner.device)
        g_real = naive_head_grad(learner, real[c], c, uniform, create_graph=False).detach()
        a = torch.softmax(naive_scores(gen, syn[c]), 0).to(learner.device)  # (N,) paper Eq. 5
        g_syn = naive_head_grad(learner, [gen.decode(s) for s in syn[c]], c, a, create_graph=True)
        dist = 1 - F.cosine_similarity(g_syn.flatten(), g_real.flatten(), dim=0)
        (dist / len(real)).backward()
        total += dist.item() / len(real)
    return total


def tool_generator_step(gen: Generator, learner: Learner, real, syn, precision: str) -> float:
    """The tool's own update (`dilm.distill.generator_step`), learner features at the same precision."""
    saved, learner.precision = learner.precision, precision
    try:
        return generator_step(gen, learner, real, syn, DistillConfig(), precision)["gm_distance"]
    finally:
        learner.precision = saved


def generator_grads(gen: Generator, step: Callable[[], float]) -> tuple[dict[str, torch.Tensor], float]:
    """Run `step` from zeroed gradients; return a copy of every generator gradient and its loss."""
    loss = from_zero(gen, step)
    grads = {n: p.grad.detach().clone() for n, p in gen.model.named_parameters() if p.grad is not None}
    gen.model.zero_grad(set_to_none=True)
    return grads, loss


def from_zero(gen: Generator, step: Callable[[], float]) -> float:
    """One timed update: zero the generator's gradients, then accumulate new ones."""
    gen.model.zero_grad(set_to_none=True)
    return step()


def grad_rel_error(got: dict[str, torch.Tensor], ref: dict[str, torch.Tensor]) -> float:
    """||got - ref|| / ||ref|| over all parameters (inf if they hold gradients for different parameters)."""
    if got.keys() != ref.keys() or not ref:
        return float("inf")
    diff = sum(float((got[k].double() - ref[k].double()).pow(2).sum()) for k in ref)
    norm = sum(float(ref[k].double().pow(2).sum()) for k in ref)
    return (diff / norm) ** 0.5 if norm > 0 else float("inf")


# ---- parts ----------------------------------------------------------------------------------
def bench_ceiling(sizes: BenchSizes) -> dict:
    return {"matmul_n": sizes.matmul, "matmul_bf16_gflops": matmul_gflops(*[sizes.matmul] * 3, torch.bfloat16),
            "matmul_fp32_gflops": matmul_gflops(*[sizes.matmul] * 3, torch.float32)}


def gm_batches(gen: Generator, train: Split, num_classes: int, sizes: BenchSizes, seed: int):
    """Per class, M real texts and N synthetic sequences (other real rows, encoded by the generator)."""
    rng = random.Random(seed)
    real, syn = [], []
    for c, rows in enumerate(train.by_class(num_classes)):
        picked = rng.sample(rows, sizes.syn_per_class + sizes.real_per_class)
        syn.append(gen.encode_many([train.texts[i] for i in picked[: sizes.syn_per_class]],
                                   [c] * sizes.syn_per_class))
        real.append([train.texts[i] for i in picked[sizes.syn_per_class:]])
    return real, syn


def gm_floor(gen: Generator, learner: Learner, real, syn, gflops: float) -> dict:
    """Arithmetic floor: 6 P_gen T_gen (generator forward + backward on unpadded tokens)
    + 2 P_learner T_learner (learner forwards), at the measured matmul rate of the precision used."""
    gen_tokens = sum(len(s) for seqs in syn for s in seqs)
    texts = [t for batch in real for t in batch] + [gen.decode(s) for seqs in syn for s in seqs]
    learner_tokens = int(learner.tokenize(texts)["attention_mask"].sum())
    gen_gflop = 6 * sum(p.numel() for p in gen.model.parameters()) * gen_tokens / 1e9
    learner_gflop = 2 * sum(p.numel() for p in learner.model.parameters()) * learner_tokens / 1e9
    return {"gm_floor_gen_tokens": gen_tokens, "gm_floor_learner_tokens": learner_tokens,
            "gm_floor_gflop": gen_gflop + learner_gflop, "gm_floor_s": (gen_gflop + learner_gflop) / gflops}


def bench_gm(gen: Generator, learner: Learner, real, syn, sizes: BenchSizes, gflops: float,
             precision: str = "bf16") -> dict:
    """Both forms of one generator update on the same samples: gradient check, then timing.
    The tool's update runs in `precision`; the floor is at that precision's matmul rate `gflops`."""
    learner.reset(seed=0)
    gen.model.train()
    naive = lambda: naive_generator_step(gen, learner, real, syn)
    tool = lambda: tool_generator_step(gen, learner, real, syn, precision)
    model = gen.model  # transformers 5 renamed gradient_checkpointing_* to activation_checkpointing_*
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    disable = getattr(model, "activation_checkpointing_disable", None) or model.gradient_checkpointing_disable
    enable()
    try:
        ref, naive_loss = generator_grads(gen, naive)
        naive_s, naive_all = median_time(lambda: from_zero(gen, naive), sizes.gm_warmup, sizes.gm_steps)
    finally:
        disable()
    got, tool_loss = generator_grads(gen, lambda: tool_generator_step(gen, learner, real, syn, "fp32"))
    rel_err = grad_rel_error(got, ref)
    del ref, got
    tool_s, tool_all = median_time(lambda: from_zero(gen, tool), sizes.gm_warmup, sizes.gm_steps)
    gen.model.zero_grad(set_to_none=True)  # free the last gradients
    lora_s = bench_gm_lora(gen, tool, sizes)
    tool_fp32 = lambda: tool_generator_step(gen, learner, real, syn, "fp32")
    fp32_s = median_time(lambda: from_zero(gen, tool_fp32), sizes.gm_warmup, sizes.gm_steps)[0]
    gen.model.zero_grad(set_to_none=True)
    floor = gm_floor(gen, learner, real, syn, gflops)
    return {"gm_step_s": tool_s, "gm_step_naive_s": naive_s, "gm_step_speedup": naive_s / tool_s,
            "gm_step_floor_ratio": tool_s / floor["gm_floor_s"], **floor,
            "gm_grad_rel_error": rel_err, "gm_grad_match": rel_err < GRAD_TOLERANCE,
            "gm_distance_naive": naive_loss, "gm_distance_tool_fp32": tool_loss,
            "gm_step_times_s": tool_all, "gm_step_naive_times_s": naive_all,
            "gm_step_lora_s": lora_s, "gm_lora_rank": sizes.lora_rank, "gm_step_tool_fp32_s": fp32_s}


def bench_gm_lora(gen: Generator, tool: Callable[[], float], sizes: BenchSizes) -> float | None:
    """The tool's update with LoRA adapters (`distill.lora_rank`) instead of all weights trainable;
    None without peft. The adapters are removed afterwards (no optimizer step: weights unchanged)."""
    try:
        from dilm.lora import add_lora
        base = gen.model
        gen.model = add_lora(base, sizes.lora_rank, 2.0 * sizes.lora_rank)
    except DilmError:
        return None
    try:
        return median_time(lambda: from_zero(gen, tool), sizes.gm_warmup, sizes.gm_steps)[0]
    finally:
        gen.model = gen.model.unload()  # the base model without the adapters


def bench_learner_steps(learner: Learner, train: Split, sizes: BenchSizes, seed: int) -> dict:
    """K learner steps on random real rows (AdamW, as between generator updates)."""
    rng = random.Random(seed)
    learner.reset(seed)
    opt = adamw(learner.model.parameters(), lr=DistillConfig().learner_lr, weight_decay=0.01)

    def k_steps():
        learner_steps(learner, opt, train, sizes.learner_steps, sizes.learner_batch, rng)

    median, _ = median_time(k_steps, 1, sizes.learner_repeats)
    return {"learner_k_steps_s": median, "learner_k": sizes.learner_steps, "learner_batch": sizes.learner_batch}


def bench_generation(gen: Generator, sizes: BenchSizes, seed: int, precision: str = "bf16") -> dict:
    """Top-p (0.95) sampling of class 0 with a KV cache, rows leaving the batch at their EOS."""
    suppress = gen.never_targets
    dev = next(gen.model.parameters()).device
    gen.model.eval()
    per_batch = {}
    with torch.no_grad(), autocast(precision, dev):
        gen._sample_batch(0, 2, 0.95, 4, suppress)  # warm-up
        for b in sizes.gen_batches:
            torch.manual_seed(seed)
            t0 = time.perf_counter()
            seqs = gen._sample_batch(0, b, 0.95, sizes.gen_new_tokens, suppress)
            dt = time.perf_counter() - t0
            tokens = sum(len(s) - 1 for s in seqs)
            per_batch[str(b)] = {"samples_per_s": b / dt, "tokens_per_s": tokens / dt, "mean_tokens": tokens / b,
                                 "eos_fraction": sum(s[-1] == gen.eos_id for s in seqs) / b}
    gen.model.train()
    last = per_batch[str(sizes.gen_batches[-1])]
    return {"gen_samples_per_s": last["samples_per_s"], "gen_tokens_per_s": last["tokens_per_s"],
            "gen_batch": sizes.gen_batches[-1], "gen_max_new_tokens": sizes.gen_new_tokens,
            "gen_by_batch": per_batch}


def bench_eval_run(learner: Learner, train: Split, num_classes: int, sizes: BenchSizes, seed: int) -> dict:
    """One evaluation learner run (`train_learner`, warm-up + cosine) on DPC real rows per class."""
    rng = random.Random(seed)
    rows = [i for group in train.by_class(num_classes) for i in rng.sample(group, sizes.eval_dpc)]
    learner.reset(seed)
    t0 = time.perf_counter()
    train_learner(learner, [train.texts[i] for i in rows], [train.labels[i] for i in rows],
                  TrainConfig(steps=sizes.eval_steps), seed)
    return {"eval_run_dpc20_s": time.perf_counter() - t0, "eval_dpc": sizes.eval_dpc, "eval_steps": sizes.eval_steps}


def bench_kcenters(learner: Learner, learner_name: str, train: Split, num_classes: int,
                   sizes: BenchSizes, seed: int) -> dict:
    """One representative-teacher set (k-centers per class) on the training features, and
    k-centers on random (n, d) features."""
    if sizes.train_rows and len(train) > sizes.train_rows:
        keep = sorted(random.Random(seed).sample(range(len(train)), sizes.train_rows))
        train = Split([train.texts[i] for i in keep], [train.labels[i] for i in keep])
    learner.reset(seed)  # features of the pre-trained encoder, as the pipeline uses
    t0 = time.perf_counter()
    feats = embeddings(learner, learner_name, train.texts, "mean")
    embed_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    representative_sets(feats, train, num_classes, sizes.kcenters_k, 1, seed)
    train_s = time.perf_counter() - t0
    x = torch.randn(sizes.random_rows, sizes.random_dim, generator=torch.Generator().manual_seed(seed))
    t0 = time.perf_counter()
    kcenters(x, sizes.random_k, seed)
    return {"kcenters_sst2_s": train_s, "kcenters_sst2_rows": len(train), "kcenters_sst2_k_per_class": sizes.kcenters_k,
            "embed_train_s": embed_s, "kcenters_400k_s": time.perf_counter() - t0,
            "kcenters_random_shape": [sizes.random_rows, sizes.random_dim], "kcenters_random_k": sizes.random_k}


# ---- the run --------------------------------------------------------------------------------
def check_sizes(train: Split, num_classes: int, sizes: BenchSizes) -> None:
    smallest = min(len(rows) for rows in train.by_class(num_classes))
    need = max(sizes.syn_per_class + sizes.real_per_class, sizes.eval_dpc, sizes.kcenters_k)
    if smallest < need:
        raise DilmError(f"bench: the smallest class has {smallest} training rows; these sizes need {need}")


def run_bench(opts: BenchOptions) -> dict:
    """Every part in one process, each with its wall time and peak RSS; returns the results."""
    sizes = SIZES[opts.sizes]
    set_threads()
    choice = resolve(opts.precision)  # the stages' precision on this machine
    torch.manual_seed(opts.seed)
    rss = PeakRss()
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    models = {"generator": opts.generator, "learner": opts.learner, "dataset": opts.dataset}
    res: dict = {"command": opts.command, "date": now, "machine": machine_info(), "models": models,
                 "precision": choice.precision, "precision_reason": choice.reason,
                 "sizes": asdict(sizes), "rss_per_part_exact": rss.per_part, "parts": {}}
    loaded: dict = {}

    def part(name: str, fn: Callable[[], dict]) -> None:
        log.info("bench: %s", name)
        rss.reset()
        t0 = time.perf_counter()
        res.update(fn())
        res["parts"][name] = {"wall_s": time.perf_counter() - t0, "peak_rss_gb": rss.peak_gb()}

    def load() -> dict:
        loaded["data"] = load_dataset(DataConfig(dataset=opts.dataset), opts.seed)
        C = loaded["data"].spec.num_classes
        check_sizes(loaded["data"].train, C, sizes)
        loaded["gen"] = load_generator(opts.generator, C, loaded["data"].spec.is_pair)
        loaded["learner"] = load_learner(opts.learner, C, precision=choice.precision)
        return {"train_rows": len(loaded["data"].train), "num_classes": C}

    part("load", load)
    data, gen, learner, C = loaded["data"], loaded["gen"], loaded["learner"], res["num_classes"]
    part("ceiling", lambda: bench_ceiling(sizes))
    real, syn = gm_batches(gen, data.train, C, sizes, opts.seed)
    rate = res[f"matmul_{choice.precision}_gflops"]
    part("gm_step", lambda: bench_gm(gen, learner, real, syn, sizes, rate, choice.precision))
    part("learner_steps", lambda: bench_learner_steps(learner, data.train, sizes, opts.seed))
    part("generation", lambda: bench_generation(gen, sizes, opts.seed, choice.precision))
    part("eval_run", lambda: bench_eval_run(learner, data.train, C, sizes, opts.seed))
    part("kcenters", lambda: bench_kcenters(learner, opts.learner, data.train, C, sizes, opts.seed))
    res["peak_rss_gb"] = process_peak_gb()
    return res
