"""`distill.lora_rank`: adapters are trained, merged, and the saved generator is a plain model."""

from __future__ import annotations

import torch
from safetensors.torch import load_file

from dilm.cli import main


def test_lora_distillation_saves_merged_plain_weights(tiny_run_args, tmp_path):
    assert main(["run", *tiny_run_args, "distill.lora_rank=2"]) == 0
    out = tmp_path / "run"
    before = load_file(out / "generator_pretrained" / "model.safetensors")
    after = load_file(out / "generator_distilled" / "model.safetensors")
    assert before.keys() == after.keys()  # merged: no lora_A / lora_B / base_layer names
    assert not any("lora" in k for k in after)
    moved = [k for k in before if not torch.equal(before[k], after[k])]
    assert moved and all(any(t in k for t in ("proj",)) for k in moved)  # only adapted projections change
    assert (out / "sets" / "dpc_2" / "set_0.jsonl").exists()


def test_lora_rank_needs_projection_layers():
    import pytest

    from dilm.errors import DilmError
    from dilm.lora import add_lora

    with pytest.raises(DilmError, match="no known projection layers"):
        add_lora(torch.nn.Sequential(torch.nn.Linear(2, 2)), 2, 4.0)
