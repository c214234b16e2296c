"""`precision: auto`: the pure choice, the overrides, the probe's cache and the per-process resolution.

No test here depends on this CPU's speed: rates come from hand-made values, the fake-probe
variable or a stubbed measurement.
"""

from __future__ import annotations

import json
import logging
import time

import pytest
import torch

from dilm import precision_probe as probe
from dilm.config import RunConfig
from dilm.errors import DilmError
from dilm.precision import PROBE_ENV, Choice, Rates, choose_cpu, choose_cuda, explicit, parse_probe, rate_text
from dilm.runtime import autocast

SLOW_BF16, FAST_BF16 = "bf16=0.8,fp32=34", "bf16=266,fp32=183"


@pytest.fixture()
def fresh(monkeypatch, tmp_path):
    """A process that has resolved nothing yet, with its cache in a temp folder."""
    monkeypatch.setattr(probe, "_resolved", {})
    monkeypatch.setenv("DILM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / probe.CACHE_FILE


@pytest.fixture()
def measured(monkeypatch, fresh) -> list[int]:
    """No fake rates: the probe 'measures' (stubbed: bf16 1.5, fp32 30) and counts its calls."""
    monkeypatch.delenv(PROBE_ENV, raising=False)
    calls = []

    def stub(*args, **kwargs) -> Rates:
        calls.append(1)
        return Rates(1.5, 30.0)

    monkeypatch.setattr(probe, "measure_rates", stub)
    return calls


# ---- the pure choice ---------------------------------------------------------------------------

def test_slow_bf16_cpu_gets_fp32_with_the_rates_as_reason():
    choice = choose_cpu("AVX2", Rates(0.84, 34.2))
    assert choice == Choice("fp32", "CPU AVX2: bf16 matmul 0.8 vs fp32 34 GFLOP/s")
    assert choice.line() == "precision: fp32 (CPU AVX2: bf16 matmul 0.8 vs fp32 34 GFLOP/s)"


def test_fast_bf16_cpu_gets_bf16():
    assert choose_cpu("AVX512", Rates(265.6, 183.0)).line() == \
        "precision: bf16 (CPU AVX512: bf16 matmul 266 vs fp32 183 GFLOP/s)"


@pytest.mark.parametrize("bf16, fp32, expected", [(120, 100, "bf16"), (119, 100, "fp32"), (100, 100, "fp32"),
                                                  (50, 100, "fp32"), (1000, 1, "bf16")])
def test_bf16_only_where_clearly_faster(bf16, fp32, expected):
    assert choose_cpu("AVX512", Rates(bf16, fp32)).precision == expected


def test_faked_rates_say_so_in_the_reason():
    assert choose_cpu("AVX2", parse_probe(SLOW_BF16)).reason.endswith(f"GFLOP/s, from {PROBE_ENV}")


def test_cuda_follows_the_device_bf16_support():
    assert choose_cuda("NVIDIA H100", True) == Choice("bf16", "CUDA NVIDIA H100 supports bf16")
    assert choose_cuda("Tesla V100", False) == Choice("fp32", "CUDA Tesla V100 has no bf16")


def test_explicit_precision_wins_and_bad_values_are_one_line_errors():
    assert explicit("bf16") == Choice("bf16", "set explicitly") and explicit("fp32").precision == "fp32"
    assert explicit("auto") is None
    with pytest.raises(DilmError, match="precision must be one of auto, bf16, fp32, got 'fp16'"):
        explicit("fp16")


def test_rate_text():
    assert [rate_text(x) for x in (0.84, 9.96, 34.2, 265.6)] == ["0.8", "10.0", "34", "266"]


def test_probe_text_parses_and_bad_text_is_rejected():
    assert parse_probe(" bf16=0.8, fp32=34") == Rates(0.8, 34.0, PROBE_ENV)
    for bad in ("bf16=0.8", "bf16=x,fp32=34", "bf16=0,fp32=34", "bf16=1,fp32=2,fp16=3", "fast"):
        with pytest.raises(DilmError, match="expected two positive rates"):
            parse_probe(bad)


# ---- resolution: override, fake probe, once per process ----------------------------------------

def test_explicit_precision_wins_over_the_probe(monkeypatch, fresh):
    monkeypatch.setenv(PROBE_ENV, SLOW_BF16)
    assert probe.resolve_precision("bf16") == "bf16"
    monkeypatch.setenv(PROBE_ENV, FAST_BF16)
    assert probe.resolve_precision("fp32") == "fp32"


@pytest.mark.parametrize("fake, expected", [(SLOW_BF16, "fp32"), (FAST_BF16, "bf16")])
def test_fake_probe_decides_auto_without_measuring(monkeypatch, fresh, fake, expected):
    monkeypatch.setenv(PROBE_ENV, fake)
    monkeypatch.setattr(probe, "measure_rates", lambda *a, **k: pytest.fail("measured the CPU"))
    assert probe.resolve("auto").precision == expected
    assert not fresh.exists()  # faked rates are not cached


def test_bad_fake_probe_is_a_one_line_error(monkeypatch, fresh):
    monkeypatch.setenv(PROBE_ENV, "bf16=fast")
    with pytest.raises(DilmError, match=f"{PROBE_ENV}='bf16=fast'"):
        probe.resolve("auto")


def test_auto_is_resolved_and_logged_once_per_process(monkeypatch, fresh, caplog):
    monkeypatch.setenv(PROBE_ENV, SLOW_BF16)
    with caplog.at_level(logging.INFO, logger="dilm"):
        first = probe.resolve("auto")
        monkeypatch.setenv(PROBE_ENV, FAST_BF16)  # not looked at again
        assert probe.resolve("auto") == first and first.precision == "fp32"
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("precision:")]
    assert lines == [f"precision: fp32 (CPU {probe.cpu_capability()}: bf16 matmul 0.8 vs fp32 34 GFLOP/s, "
                     f"from {PROBE_ENV})"]


def test_resolved_config_and_autocast(monkeypatch, fresh):
    monkeypatch.setenv(PROBE_ENV, SLOW_BF16)
    cfg = RunConfig()
    assert cfg.precision == "auto" and probe.resolved_config(cfg).precision == "fp32"
    assert cfg.precision == "auto"  # a copy: the caller's config is left as it was
    with autocast("auto", torch.device("cpu")):
        assert not torch.is_autocast_enabled("cpu")
    with autocast("bf16", torch.device("cpu")):
        assert torch.is_autocast_enabled("cpu")


# ---- the probe's cache -------------------------------------------------------------------------

def test_cache_is_written_once_and_reused(measured, fresh):
    assert probe.cpu_rates() == Rates(1.5, 30.0)
    entries = json.loads(fresh.read_text())
    assert set(entries) == {probe.machine_key()} and entries[probe.machine_key()]["fp32"] == 30.0
    assert probe.cpu_rates() == Rates(1.5, 30.0, "cached")
    assert len(measured) == 1


def test_cache_of_another_machine_key_is_not_trusted(measured, fresh, monkeypatch):
    fresh.parent.mkdir(parents=True)
    fresh.write_text(json.dumps({"AVX512 | other cpu | torch 0 | 2 threads": {"bf16": 500, "fp32": 100}}))
    assert probe.cpu_rates().bf16 == 1.5 and len(measured) == 1  # measured here, the other entry kept
    assert len(json.loads(fresh.read_text())) == 2
    monkeypatch.setattr(probe, "machine_key", lambda: "AVX2 | this cpu | torch 9 | 3 threads")
    probe.cpu_rates()  # other threads or torch: measured again
    assert len(measured) == 2 and len(json.loads(fresh.read_text())) == 3


@pytest.mark.parametrize("text", ["not json", "[1, 2]", None])
def test_unreadable_cache_or_entry_is_measured_again(measured, fresh, text):
    fresh.parent.mkdir(parents=True)
    fresh.write_text(json.dumps({probe.machine_key(): {"bf16": "x"}}) if text is None else text)
    assert probe.cpu_rates() == Rates(1.5, 30.0) and len(measured) == 1
    assert json.loads(fresh.read_text())[probe.machine_key()]["bf16"] == 1.5


def test_measured_auto_on_cpu_uses_the_cache(measured, fresh, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert probe.resolve("auto").line() == \
        f"precision: fp32 (CPU {probe.cpu_capability()}: bf16 matmul 1.5 vs fp32 30 GFLOP/s)"
    monkeypatch.setattr(probe, "_resolved", {})  # a new process on the same machine
    assert probe.resolve("auto").precision == "fp32" and len(measured) == 1


def test_machine_key_names_capability_cpu_torch_and_threads():
    key = probe.machine_key()
    assert key.startswith(probe.cpu_capability()) and torch.__version__ in key
    assert f"{torch.get_num_threads()} threads" in key


# ---- the timing itself (call counts, not speeds) -----------------------------------------------

def test_a_slow_first_call_is_the_measurement():
    calls = []
    rate = probe.gflops(lambda: (calls.append(1), time.sleep(0.03)), flops=10**9, budget_s=0.01)
    assert len(calls) == 1 and 0 < rate < 1e9 / 0.03 / 1e9 + 1e-9


def test_fast_calls_repeat_for_the_budget():
    calls = []
    assert probe.gflops(lambda: calls.append(1), flops=10, budget_s=0.01) > 0 and len(calls) > 2


def test_measure_rates_returns_two_positive_rates():
    rates = probe.measure_rates(rows=4, dim=8, budget_s=0.005)
    assert rates.bf16 > 0 and rates.fp32 > 0 and rates.source == "measured"


def test_measuring_leaves_the_thread_count_as_it_was():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        probe.measure_rates(rows=2, dim=4, budget_s=0.001)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_an_unwritable_cache_still_gives_rates(measured, monkeypatch, tmp_path, caplog):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    monkeypatch.setenv("DILM_CACHE", str(blocker))
    with caplog.at_level(logging.WARNING, logger="dilm"):
        assert probe.cpu_rates() == Rates(1.5, 30.0)
    assert "cannot write" in caplog.text
