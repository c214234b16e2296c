"""Resolve `precision: auto` once per process: CUDA's bf16 support, or a timed matmul probe of the CPU.

The CPU probe times a token batch through a SmolLM2-135M-sized linear layer, (256, 576) @
(576, 576), under bf16 autocast and in fp32 (about 0.3 s in all, on one core), the way the
training code runs its layers. Its rates are cached in `precision_probe.json` under the dilm
cache ($DILM_CACHE or ~/.cache/dilm), keyed by the CPU capability string, CPU model, torch
version and thread count: a machine is measured once, another key (other CPU, torch or
threads) is measured again.
`DILM_PRECISION_PROBE=bf16=0.8,fp32=34` replaces the probe (tests; trying the other kind).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from dilm import dist
from dilm.config import RunConfig
from dilm.errors import DilmError
from dilm.io import write_json
from dilm.models import cache_root
from dilm.precision import PROBE_ENV, Choice, Rates, choose_cpu, choose_cuda, explicit, parse_probe

log = logging.getLogger("dilm")

CACHE_FILE = "precision_probe.json"
PROBE_ROWS, PROBE_DIM = 256, 576  # tokens x hidden size of the packaged generator
BUDGET_S = 0.15  # timing per precision (a single call that takes longer is the measurement)

_resolved: dict[str, Choice] = {}  # requested -> choice, for this process


def cpu_capability() -> str:
    """torch's CPU kernel level: 'AVX2', 'AVX512', 'DEFAULT', ... ('unknown' on an older torch)."""
    get = getattr(torch.backends.cpu, "get_cpu_capability", None)
    return get() if get else "unknown"


def cpu_name() -> str:
    """The CPU model name from /proc/cpuinfo, else the platform's processor string."""
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_key() -> str:
    """What the probe's result depends on; a cached result under another key is not used."""
    return f"{cpu_capability()} | {cpu_name()} | torch {torch.__version__} | {torch.get_num_threads()} threads"


def gflops(fn: Callable[[], object], flops: int, budget_s: float = BUDGET_S) -> float:
    """Best rate of `fn` (GFLOP/s) over calls for about `budget_s`: the fastest call counts, since
    other load on the machine only slows calls down. A first call that alone exceeds the budget
    is the measurement (a slow kernel is slow); otherwise it is a warm-up."""
    t0 = time.perf_counter()
    fn()
    best = time.perf_counter() - t0
    if best >= budget_s:
        return flops / best / 1e9
    start = time.perf_counter()
    while time.perf_counter() - start < budget_s:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return flops / best / 1e9


def measure_rates(rows: int = PROBE_ROWS, dim: int = PROBE_DIM, budget_s: float = BUDGET_S) -> Rates:
    """bf16-autocast and fp32 rates of `linear(x, w)`, x (rows, dim), w (dim, dim), on one core.

    One thread: the bf16/fp32 ratio is a property of the core, and a multi-threaded matmul on a
    busy machine measures the load instead (seen on 2 shared cores: 2 threads gave bf16 5 vs fp32
    9 GFLOP/s, 1 thread gave 205 vs 104 three times in a row)."""
    x, w = torch.randn(rows, dim), torch.randn(dim, dim)
    flops = 2 * rows * dim * dim

    def bf16() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            F.linear(x, w)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            return Rates(gflops(bf16, flops, budget_s), gflops(lambda: F.linear(x, w), flops, budget_s))
    finally:
        torch.set_num_threads(threads)


def read_cache(path: Path) -> dict:
    """The cache file's entries ({} when it is missing or unreadable: it is then rewritten)."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def cached_rates(entry: object) -> Rates | None:
    try:
        return Rates(float(entry["bf16"]), float(entry["fp32"]), "cached")
    except (TypeError, KeyError, ValueError):
        return None


def cpu_rates() -> Rates:
    """The faked rates ($DILM_PRECISION_PROBE), else this machine's cached ones, else a new measurement."""
    fake = os.environ.get(PROBE_ENV)
    if fake:
        return parse_probe(fake)
    path, key = cache_root() / CACHE_FILE, machine_key()
    entries = read_cache(path)
    rates = cached_rates(entries.get(key))
    if rates is not None:
        return rates
    t0 = time.perf_counter()
    rates = measure_rates()
    seconds = time.perf_counter() - t0
    log.info("precision probe: bf16 %.1f, fp32 %.1f GFLOP/s in %.2f s (cached in %s)", rates.bf16, rates.fp32,
             seconds, path)
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    entry = {"bf16": round(rates.bf16, 2), "fp32": round(rates.fp32, 2), "probe_s": round(seconds, 3), "date": now}
    try:
        write_json(path, {**entries, key: entry})
    except (OSError, DilmError) as e:  # a read-only or full home folder: probe again next time
        log.warning("precision probe: cannot write %s (%s)", path, e)
    return rates


def detect() -> Choice:
    """This machine's choice for `auto` (measures the CPU when its rates are neither cached nor faked)."""
    if torch.cuda.is_available():
        return choose_cuda(torch.cuda.get_device_name(0), torch.cuda.is_bf16_supported())
    return choose_cpu(cpu_capability(), cpu_rates())


def resolve(requested: str) -> Choice:
    """The choice for `requested`, decided once per process and logged once.

    Under a launcher, rank 0 decides `auto` and every process takes its choice (all must
    compute alike), so the first call of `auto` must be made by every process."""
    if requested not in _resolved:
        choice = explicit(requested)
        if choice is None:  # auto: rank 0 decides (None from the others), alone: decide here
            choice = dist.broadcast_object(detect() if dist.is_main() else None) or detect()
        _resolved[requested] = choice
        if dist.is_main():
            log.info(choice.line())
    return _resolved[requested]


def resolve_precision(requested: str) -> str:
    """'bf16' or 'fp32' for a requested 'auto', 'bf16' or 'fp32'."""
    return resolve(requested).precision


def resolved_config(cfg: RunConfig) -> RunConfig:
    """A copy of `cfg` with its precision resolved: what a workflow runs with and records."""
    return dataclasses.replace(cfg, precision=resolve_precision(cfg.precision))
