"""Process-level helpers: device, precision, seeding, logging, learning-rate schedule."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import resource

import numpy as np
import torch

from dilm.precision_probe import resolve_precision

log = logging.getLogger("dilm")


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("transformers", "huggingface_hub", "accelerate"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast(precision: str, dev: torch.device | None = None):
    """bf16 autocast on CPU or GPU (weights stay fp32), or a no-op for fp32; "auto" is this machine's choice."""
    if precision == "auto":
        precision = resolve_precision(precision)  # decided once per process
    if precision != "bf16":
        return contextlib.nullcontext()
    dev = dev or device()
    return torch.autocast(dev.type, dtype=torch.bfloat16)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_threads() -> None:
    """Use every core for intra-op work (torch defaults to physical cores only); $DILM_THREADS overrides."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(int(os.environ.get("DILM_THREADS", 0)) or max(1, n or 1))


def adamw(params, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with the fused kernel (one pass over all weights; about 3x faster per step than the
    default on CPU for MiniLM), falling back to the default where fused is unavailable."""
    params = list(params)
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """LR multiplier: linear warm-up over `warmup` steps, then cosine decay to 0 at `total`."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if total <= warmup:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


class PeakRss:
    """Peak resident memory per part: VmHWM reset through /proc/self/clear_refs where permitted,
    else the process's running peak (ru_maxrss, which never goes down)."""

    def __init__(self):
        self.per_part = self.reset()

    @staticmethod
    def reset() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def peak_gb(self) -> float:
        if self.per_part:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 2**20  # kB -> GB
        return process_peak_gb()


def process_peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: kB
