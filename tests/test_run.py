"""End to end: `dilm run` on the tiny models writes readable sets, reproducibly, for single and pair tasks."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import yaml

from dilm.cli import main
from dilm.config import load_config


def out_dir(args: list[str]) -> Path:
    return Path([a for a in args if a.startswith("out_dir=")][-1].split("=", 1)[1])


def set_files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted((out / "sets").rglob("*.jsonl"))}


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_run_writes_sets_config_and_generators(tiny_run_args, capsys):
    assert main(["run", *tiny_run_args]) == 0
    out = out_dir(tiny_run_args)
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "sets" / "dpc_2" / "set_0.jsonl")]

    rows = read_rows(out / "sets" / "dpc_2" / "set_0.jsonl")
    assert Counter(r["label"] for r in rows) == {0: 2, 1: 2}
    for r in rows:
        assert set(r) == {"sentence", "label", "label_name"}
        assert type(r["label"]) is int and r["label_name"] == ["negative", "positive"][r["label"]]
        assert isinstance(r["sentence"], str) and r["sentence"]

    # the resolved config is saved and loads back to the same run config
    saved = out / "config.yaml"
    assert saved.exists()
    assert load_config(str(saved)) == load_config(None, tiny_run_args)
    assert yaml.safe_load(saved.read_text())["pretrain"]["steps"] == 40

    for folder_name, stage in (("generator_pretrained", "pretrain"), ("generator_distilled", "distill")):
        folder = out / folder_name
        assert (folder / "model.safetensors").exists(), folder_name
        meta = json.loads((folder / "dilm_generator.json").read_text())
        assert meta["done"] is True and meta["num_classes"] == 2 and meta["pair"] is False
        assert meta["stage"] == stage
    metrics = read_rows(out / "distill_metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]  # outer_loops 2 x inner_steps 2
    assert all(0.0 <= m["gm_distance"] <= 2.0 for m in metrics)
    teacher = json.loads((out / "teacher_sets.json").read_text())["sets"]
    assert len(teacher) == 2 and all(len(rows) == 4 for per_class in teacher for rows in per_class)
    assert "## 0: negative" in (out / "samples.md").read_text()


def test_same_seed_same_sets(tiny_run_args, tmp_path):
    first = [*tiny_run_args, f"out_dir={tmp_path / 'first'}"]
    second = [*tiny_run_args, f"out_dir={tmp_path / 'second'}"]
    assert main(["run", *first]) == 0
    assert main(["run", *second]) == 0
    a, b = set_files(tmp_path / "first"), set_files(tmp_path / "second")
    assert a and a == b
    for name in ("generator_pretrained", "generator_distilled"):
        assert ((tmp_path / "first" / name / "model.safetensors").read_bytes()
                == (tmp_path / "second" / name / "model.safetensors").read_bytes())


def test_generate_again_with_other_dpc_reuses_the_generator(tiny_run_args, capsys):
    out = out_dir(tiny_run_args)
    assert main(["run", *tiny_run_args]) == 0
    weights = (out / "generator_distilled" / "model.safetensors").read_bytes()
    capsys.readouterr()
    assert main(["generate", *tiny_run_args, "--dpc", "1", "3", "--num-sets", "2"]) == 0
    printed = capsys.readouterr().out.split()
    assert sorted(printed) == sorted(str(out / "sets" / f"dpc_{k}" / f"set_{i}.jsonl")
                                     for k in (1, 3) for i in (0, 1))
    for k in (1, 3):
        rows = read_rows(out / "sets" / f"dpc_{k}" / "set_1.jsonl")
        assert Counter(r["label"] for r in rows) == {0: k, 1: k}
    assert (out / "generator_distilled" / "model.safetensors").read_bytes() == weights


def test_pair_task_runs_end_to_end(tiny_run_args, pair_data_dir):
    args = [*tiny_run_args, f"data.dataset={pair_data_dir}", "pretrain.steps=100", "distill.max_new_tokens=48",
            "generate.max_new_tokens=48"]
    assert main(["run", *args]) == 0
    out = out_dir(args)
    rows = read_rows(out / "sets" / "dpc_2" / "set_0.jsonl")
    assert Counter(r["label"] for r in rows) == {0: 2, 1: 2}
    for r in rows:
        assert set(r) == {"sentence1", "sentence2", "label", "label_name"}
        assert r["sentence1"] and r["sentence2"]
        assert r["label_name"] == ["not_equivalent", "equivalent"][r["label"]]
    meta = json.loads((out / "generator_distilled" / "dilm_generator.json").read_text())
    assert meta["pair"] is True
    assert " <sep> " in (out / "samples.md").read_text()


def test_distill_again_with_other_teacher_size_recomputes_teacher_sets(tiny_run_args):
    """teacher_sets.json is a cache: a new distill.real_batch / num_teacher_sets must not reuse it."""
    out = out_dir(tiny_run_args)
    assert main(["run", *tiny_run_args, "stages=[pretrain, distill]"]) == 0
    teacher = json.loads((out / "teacher_sets.json").read_text())["sets"]
    assert [[len(rows) for rows in per_class] for per_class in teacher] == [[4, 4], [4, 4]]
    assert main(["distill", *tiny_run_args, "distill.real_batch=6", "distill.num_teacher_sets=3"]) == 0
    teacher = json.loads((out / "teacher_sets.json").read_text())["sets"]
    assert [[len(rows) for rows in per_class] for per_class in teacher] == [[6, 6]] * 3


def test_gradient_accumulation_gives_the_same_pretrained_weights(tiny_run_args, tmp_path):
    """pretrain.grad_accum splits each batch into sequential micro-batches: the same update."""
    import torch
    from safetensors.torch import load_file

    base = [a for a in tiny_run_args if not a.startswith("out_dir=")] + ["stages=[pretrain]"]
    assert main(["run", *base, f"out_dir={tmp_path / 'a'}"]) == 0
    assert main(["run", *base, "pretrain.grad_accum=3", f"out_dir={tmp_path / 'b'}"]) == 0
    a = load_file(tmp_path / "a" / "generator_pretrained" / "model.safetensors")
    b = load_file(tmp_path / "b" / "generator_pretrained" / "model.safetensors")
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-5)


def test_validate_and_a_run_folder_use_the_resolved_precision(tiny_run_args, capsys, caplog, monkeypatch):
    """`auto` (the fake probe: slow bf16) is fp32 in validate's output, config.yaml, timings and fingerprints;
    reopening the folder in bf16 says that its stages are redone."""
    from dilm import pipeline, precision_probe

    monkeypatch.setattr(precision_probe, "_resolved", {})
    monkeypatch.setenv("DILM_PRECISION_PROBE", "bf16=0.8,fp32=34")
    auto = [*tiny_run_args, "precision=auto"]
    assert main(["validate", *auto]) == 0
    line = (f"precision: fp32 (CPU {precision_probe.cpu_capability()}: bf16 matmul 0.8 vs fp32 34 GFLOP/s, "
            "from DILM_PRECISION_PROBE)")
    assert line in capsys.readouterr().out.splitlines()

    ws = pipeline.Workspace(load_config(None, auto))
    assert ws.cfg.precision == "fp32" and yaml.safe_load((ws.out / "config.yaml").read_text())["precision"] == "fp32"
    fp32, bf16 = (load_config(None, [*tiny_run_args, f"precision={p}"]) for p in ("fp32", "bf16"))
    assert pipeline.fingerprint(ws.cfg, "pretrain", "g") == pipeline.fingerprint(fp32, "pretrain", "g")
    assert pipeline.fingerprint(ws.cfg, "pretrain", "g") != pipeline.fingerprint(bf16, "pretrain", "g")
    ws.timed("nothing", lambda: None)
    timings = json.loads((ws.out / "timings.json").read_text())
    assert timings["precision"] == "fp32" and timings["precision_reason"] == line[len("precision: fp32 ("):-1]
    assert timings["machine"]["cpu_capability"] == precision_probe.cpu_capability()
    with caplog.at_level("WARNING", logger="dilm"):
        pipeline.Workspace(bf16)
    assert "was run in fp32, this run is bf16: stages finished in fp32 are redone" in caplog.text
