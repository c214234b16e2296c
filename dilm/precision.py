"""Choosing the compute precision from the hardware: `precision: auto` -> bf16 or fp32.

Pure functions only (no timing, no files): what the machine offers goes in, a `Choice` with
the reason for it comes out. `dilm.precision_probe` measures the CPU and caches the rates.

- An explicit `bf16` or `fp32` always wins.
- CUDA: bf16 where the device supports it, else fp32.
- CPU: bf16 autocast only where a representative matmul is clearly faster in bf16 than in
  fp32 (`BF16_MIN_SPEEDUP`). CPUs without bf16 in hardware (AVX2, many AVX-512 parts) run
  bf16 through a reference kernel that is 8-40x slower than fp32; those with AVX-512 BF16 or
  AMX run it faster than fp32.
"""

from __future__ import annotations

from dataclasses import dataclass

from dilm.errors import DilmError

PRECISIONS = ("auto", "bf16", "fp32")
BF16_MIN_SPEEDUP = 1.2  # bf16 must beat fp32 by this factor: a near tie is not worth the rounding
PROBE_ENV = "DILM_PRECISION_PROBE"  # fake probe result, e.g. "bf16=0.8,fp32=34" (GFLOP/s)


@dataclass(frozen=True)
class Rates:
    """Measured matmul rates of one CPU, GFLOP/s."""

    bf16: float  # under bf16 autocast
    fp32: float
    source: str = "measured"  # "measured", "cached" or the name of the variable that faked them


@dataclass(frozen=True)
class Choice:
    precision: str  # "bf16" or "fp32", never "auto"
    reason: str

    def line(self) -> str:
        """The log line, e.g. `precision: fp32 (CPU AVX2: bf16 matmul 0.8 vs fp32 34 GFLOP/s)`."""
        return f"precision: {self.precision} ({self.reason})"


def rate_text(gflops: float) -> str:
    """0.84 -> '0.8', 34.2 -> '34', 265.6 -> '266'."""
    return f"{gflops:.1f}" if gflops < 10 else f"{gflops:.0f}"


def choose_cpu(capability: str, rates: Rates, min_speedup: float = BF16_MIN_SPEEDUP) -> Choice:
    """bf16 only where its measured matmul rate is at least `min_speedup` x the fp32 rate."""
    fast = rates.bf16 >= min_speedup * rates.fp32
    reason = f"CPU {capability}: bf16 matmul {rate_text(rates.bf16)} vs fp32 {rate_text(rates.fp32)} GFLOP/s"
    if rates.source not in ("measured", "cached"):
        reason += f", from {rates.source}"
    return Choice("bf16" if fast else "fp32", reason)


def choose_cuda(device_name: str, bf16_supported: bool) -> Choice:
    if bf16_supported:
        return Choice("bf16", f"CUDA {device_name} supports bf16")
    return Choice("fp32", f"CUDA {device_name} has no bf16")


def explicit(requested: str) -> Choice | None:
    """The choice for an explicit `bf16`/`fp32` (None for `auto`); anything else is an error."""
    if requested not in PRECISIONS:
        raise DilmError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    return None if requested == "auto" else Choice(requested, "set explicitly")


def parse_probe(text: str, source: str = PROBE_ENV) -> Rates:
    """Rates from `bf16=0.8,fp32=34` (GFLOP/s, both positive)."""
    values: dict[str, float] = {}
    for item in text.replace(" ", "").split(","):
        key, _, raw = item.partition("=")
        try:
            values[key] = float(raw)
        except ValueError:
            values[key] = -1.0
    if set(values) != {"bf16", "fp32"} or min(values.values()) <= 0:
        raise DilmError(f"{source}={text!r}: expected two positive rates in GFLOP/s, like bf16=0.8,fp32=34")
    return Rates(values["bf16"], values["fp32"], source)
