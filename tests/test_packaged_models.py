"""The packaged offline models (slow: ~1-2 min; `pytest -m slow`)."""

from __future__ import annotations

import json

import pytest

from dilm.cli import main
from dilm.data import data_root

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not (data_root() / "sst2").is_dir(), reason="needs ../shared/data/sst2")
def test_run_with_packaged_models_on_sst2(tmp_path):
    out = tmp_path / "run"
    args = ["run", "--preset", "demo", f"out_dir={out}", "data.max_train_examples=200",
            "pretrain.steps=2", "distill.outer_loops=1", "distill.inner_steps=1", "distill.learner_steps=1",
            "distill.real_batch=4", "distill.syn_batch=2", "distill.resample_interval=1",
            "distill.num_teacher_sets=1", "generate.oversample=2", "generate.dpc=[2]"]
    assert main(args) == 0
    rows = [json.loads(line) for line in (out / "sets" / "dpc_2" / "set_0.jsonl").read_text().splitlines()]
    assert sorted(r["label"] for r in rows) == [0, 0, 1, 1]
    assert all(r["sentence"].strip() and r["label_name"] in ("negative", "positive") for r in rows)
    assert (out / "generator_distilled" / "model.safetensors").exists()
    meta = json.loads((out / "generator_distilled" / "dilm_generator.json").read_text())
    assert meta["num_classes"] == 2 and meta["done"]
