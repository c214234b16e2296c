"""The performance benchmark (dilm/bench.py, dilm/bench_report.py) runs end to end on the tiny models."""

from __future__ import annotations

import json

import pytest
import torch

from dilm import bench
from dilm.bench import BenchOptions, grad_rel_error, run_bench
from dilm.bench_report import main, target_rows, write_outputs

REQUIRED = ("gm_step_s", "gm_step_naive_s", "gm_step_speedup", "gm_step_floor_ratio", "learner_k_steps_s",
            "gen_samples_per_s", "eval_run_dpc20_s", "kcenters_sst2_s", "kcenters_400k_s", "peak_rss_gb")


@pytest.fixture(scope="module")
def spread_learner_dir(tiny_learner_dir, tmp_path_factory):
    """The tiny BERT with its dense weights x10, so that head inputs differ between texts.

    At the random init (std 0.02) every text gets nearly the same features, both gradient-matching
    forms then see a distance of ~1e-7 and their gradients are fp32 rounding noise.
    """
    from transformers import BertModel, BertTokenizerFast

    path = tmp_path_factory.mktemp("spread_learner")
    model = BertModel.from_pretrained(tiny_learner_dir)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2 and "embeddings" not in name:
                p.mul_(10.0)
    model.save_pretrained(path)
    BertTokenizerFast.from_pretrained(tiny_learner_dir).save_pretrained(path)
    return path


@pytest.fixture()
def tiny_opts(tiny_generator_dir, spread_learner_dir, tiny_data_dir, tmp_path, monkeypatch) -> BenchOptions:
    monkeypatch.setenv("DILM_CACHE", str(tmp_path / "cache"))  # feature cache off the home folder
    return BenchOptions(generator=str(tiny_generator_dir), learner=str(spread_learner_dir),
                        dataset=str(tiny_data_dir), sizes="tiny", command="pytest tiny bench")


@pytest.fixture()
def tiny_results(tiny_opts, tmp_path) -> dict:
    res = run_bench(tiny_opts)
    write_outputs(res, tmp_path / "bench.json", tmp_path / "performance.md")
    return res


def test_bench_writes_every_required_key_positive(tiny_results, tmp_path):
    saved = json.loads((tmp_path / "bench.json").read_text())
    for key in REQUIRED:
        assert isinstance(saved[key], (int, float)) and saved[key] > 0, key
    assert saved["machine"]["cores"] >= 1 and saved["machine"]["torch"] == torch.__version__
    assert saved["machine"]["cpu"] and saved["machine"]["threads"] >= 1
    assert saved["date"] and saved["command"] == "pytest tiny bench"
    assert set(saved["parts"]) == {"load", "ceiling", "gm_step", "learner_steps", "generation", "eval_run",
                                   "kcenters"}
    assert all(p["peak_rss_gb"] > 0 and p["wall_s"] > 0 for p in saved["parts"].values())
    assert saved["gm_step_lora_s"] > 0 and saved["gm_lora_rank"] > 0  # peft is a test dependency


def test_naive_and_tool_generator_gradients_agree(tiny_results):
    """Autograd through the learner (fp32, checkpointing) and the closed form give one gradient."""
    assert tiny_results["gm_grad_rel_error"] < 1e-4
    assert tiny_results["gm_grad_match"] is True
    assert tiny_results["gm_distance_naive"] > 1e-3  # features differ: a real gradient, not noise
    assert abs(tiny_results["gm_distance_naive"] - tiny_results["gm_distance_tool_fp32"]) < 1e-5


def test_gradient_check_fails_on_a_wrong_straightforward_form(tiny_opts, monkeypatch):
    """Weights at temperature 1.1 instead of 1: the check must report a mismatch."""
    from dilm.config import DataConfig
    from dilm.data import load_dataset
    from dilm.generator import load_generator
    from dilm.learner import load_learner

    right = bench.naive_scores
    monkeypatch.setattr(bench, "naive_scores", lambda gen, seqs: right(gen, seqs) / 1.1)
    data = load_dataset(DataConfig(dataset=tiny_opts.dataset))
    gen, learner = load_generator(tiny_opts.generator, 2, False), load_learner(tiny_opts.learner, 2)
    sizes = bench.SIZES["tiny"]
    real, syn = bench.gm_batches(gen, data.train, 2, sizes, seed=0)
    out = bench.bench_gm(gen, learner, real, syn, sizes, gflops=1.0)
    assert out["gm_grad_rel_error"] > 1e-3 and out["gm_grad_match"] is False


def test_performance_page_holds_the_table(tiny_results, tmp_path):
    page = (tmp_path / "performance.md").read_text()
    assert "pytest tiny bench" in page and tiny_results["date"] in page
    assert "| GM update, tool |" in page and "| speed-up |" in page and tiny_results["machine"]["cpu"] in page
    assert "Machine kind: a CPU with" in page and tiny_results["machine"]["cpu_capability"] in page


def test_bench_records_the_capability_both_rates_and_the_resolved_precision(tiny_results):
    """conftest.py fakes fast bf16: `auto` resolves to bf16 and the tool's parts ran in it."""
    from dilm.precision_probe import cpu_capability

    assert tiny_results["machine"]["cpu_capability"] == cpu_capability()
    assert tiny_results["matmul_bf16_gflops"] > 0 and tiny_results["matmul_fp32_gflops"] > 0
    assert tiny_results["precision"] == "bf16" and "bf16 matmul 200 vs fp32 100" in tiny_results["precision_reason"]


@pytest.mark.parametrize("bf16, fp32, kind, runs", [(265.6, 183.0, "with fast bf16", "bf16"),
                                                    (0.8, 34.0, "without fast bf16", "fp32")])
def test_page_names_the_machine_kind_of_its_figures(bf16, fp32, kind, runs):
    from dilm.bench_report import machine_kind

    r = {"matmul_bf16_gflops": bf16, "matmul_fp32_gflops": fp32, "matmul_n": 2048, "precision": runs,
         "machine": {"cpu_capability": "AVX512"}}
    assert f"Machine kind: a CPU {kind}" in machine_kind(r) and f"picks {runs} on such a machine" in machine_kind(r)
    del r["machine"]["cpu_capability"], r["precision"]  # a bench.json from before: bf16 runs, capability unknown
    assert "(capability not recorded)" in machine_kind(r) and "parts ran in bf16" in machine_kind(r)


def test_grad_rel_error_detects_a_difference():
    ref = {"a": torch.ones(3), "b": torch.ones(2)}
    assert grad_rel_error(ref, ref) == 0.0
    assert grad_rel_error({"a": torch.ones(3), "b": torch.tensor([1.0, 1.001])}, ref) > 1e-4
    assert grad_rel_error({"a": torch.ones(3)}, ref) == float("inf")  # a parameter lost its gradient


def test_cli_main_runs_tiny(tiny_opts, tmp_path, capsys):
    rc = main(["--sizes", "tiny", "--generator", tiny_opts.generator, "--learner", tiny_opts.learner,
               "--dataset", tiny_opts.dataset, "--out-json", str(tmp_path / "cli.json"),
               "--out-md", str(tmp_path / "cli.md")])
    assert rc == 0
    assert "| GM update, straightforward |" in capsys.readouterr().out
    assert json.loads((tmp_path / "cli.json").read_text())["command"].startswith("dilm bench --sizes tiny")


def test_targets_are_judged_against_their_bounds():
    r = {"gm_step_speedup": 3.57, "gm_step_floor_ratio": 1.5, "eval_run_dpc20_s": 85.7, "kcenters_400k_s": 8.66}
    rows = {label: met for label, _, _, met in target_rows(r)}
    assert rows == {"GM update vs the straightforward form": False, "GM update / floor": True,
                    "evaluation run, DPC 20 (s)": False, "K-centers, 400k x 768 (s)": True}  # no RSS key: no row


def test_render_only_rewrites_the_page_from_the_results_file(tiny_results, tmp_path, capsys):
    page = tmp_path / "again.md"
    assert main(["--render-only", "--out-json", str(tmp_path / "bench.json"), "--out-md", str(page)]) == 0
    text = page.read_text()
    assert "## Targets" in text and "| GM update / floor |" in text and tiny_results["date"] in text
    assert main(["--render-only", "--out-json", str(tmp_path / "missing.json"), "--out-md", str(page)]) == 2
    assert "cannot read" in capsys.readouterr().err and page.read_text() == text  # page kept


def test_matmul_rate_counts_2mkn_flops_per_product(monkeypatch):
    # a (100, 20) @ (20, 50) product is 2*100*20*50 = 200,000 flops; ~2 GFLOP per timing is
    # 10,000 products; at a pretended 1 s per timing that is 2.0 GFLOP/s
    monkeypatch.setattr(bench, "median_time", lambda fn, warmup, repeats: (1.0, [1.0]))
    assert bench.matmul_gflops(100, 20, 50, torch.float32, repeats=2) == pytest.approx(2.0)
    assert bench.matmul_gflops(1000, 1000, 1000, torch.bfloat16, repeats=1) == pytest.approx(2.0)  # 1 product
