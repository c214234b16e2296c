"""The LM term beside the matching loss (distill.lm_weight), and distillation stopping early with a clear
message when the matching has broken the generator's language model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from conftest import NEGATIVE, POSITIVE

from dilm import pipeline
from dilm.cli import main
from dilm.config import load_config
from dilm.distill import lm_term
from dilm.errors import DilmError


def grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def test_lm_term_is_the_weighted_pretraining_loss(tiny_generator):
    """It returns Eq. 1's batch mean (per-sample mean token NLL, averaged) and accumulates weight x its
    gradient: twice the weight, twice the gradient, the same loss."""
    gen = tiny_generator
    texts = [(s,) for s in (NEGATIVE[0], NEGATIVE[2], POSITIVE[1], POSITIVE[2])]
    labels = [0, 0, 1, 1]
    total, count = gen.token_logprobs(gen.encode_many(texts, labels), micro_batch=0)
    expected = float(-(total / count).mean().detach())  # computed directly from per-token log-probabilities

    gen.model.zero_grad(set_to_none=True)
    loss = lm_term(gen, texts, labels, 1.0, "fp32")
    once = grads(gen.model)
    gen.model.zero_grad(set_to_none=True)
    assert lm_term(gen, texts, labels, 2.0, "fp32") == pytest.approx(loss)
    twice = grads(gen.model)

    assert loss == pytest.approx(expected, rel=1e-5)
    assert loss > 0
    assert set(once) == set(twice) and "model.embed_tokens.weight" in once
    for name in once:
        torch.testing.assert_close(twice[name], 2 * once[name])


@pytest.mark.parametrize("override, message", [
    ("distill.lm_weight=-0.5", "distill.lm_weight' must be >= 0"),
    ("distill.lm_batch=0", "distill.lm_batch' must be > 0"),
])
def test_bad_lm_settings_are_refused(override, message):
    with pytest.raises(DilmError, match=message):
        load_config(None, [override])


def test_lm_weight_zero_keeps_the_distill_tag_and_any_other_weight_changes_it(tiny_run_args, monkeypatch):
    """Run folders distilled before the keys existed keep their tag; an LM term is another distillation."""
    run = load_config(None, tiny_run_args)
    with_lm = load_config(None, [*tiny_run_args, "distill.lm_weight=0.5"])
    real = pipeline.dump_config

    def without_keys(cfg):
        tree = yaml.safe_load(real(cfg))
        del tree["distill"]["lm_weight"], tree["distill"]["lm_batch"]
        return yaml.safe_dump(tree)

    with monkeypatch.context() as m:
        m.setattr(pipeline, "dump_config", without_keys)
        old = pipeline.fingerprint(run, "distill", "g")
    assert pipeline.fingerprint(run, "distill", "g") == old
    assert pipeline.fingerprint(with_lm, "distill", "g") != old
    assert pipeline.fingerprint(with_lm, "pretrain", "g") == pipeline.fingerprint(run, "pretrain", "g")


def test_distill_with_an_lm_term_logs_it_and_moves_the_generator(tiny_run_args, pretrained_generator_dir):
    from safetensors.torch import load_file

    args = [*tiny_run_args, "distill.lm_weight=1.0", "distill.lm_batch=4"]
    assert main(["distill", *args, "--generator", str(pretrained_generator_dir)]) == 0
    out = Path(load_config(None, args).out_dir)
    metrics = [json.loads(line) for line in (out / "distill_metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 4  # outer_loops 2 x inner_steps 2
    assert all(0 < m["lm_loss"] < 20 and m["samples_dropped"] >= 0 for m in metrics)
    before = load_file(pretrained_generator_dir / "model.safetensors")
    after = load_file(out / "generator_distilled" / "model.safetensors")
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_distill_without_lm_term_records_no_lm_loss(tiny_run_args, pretrained_generator_dir):
    assert main(["distill", *tiny_run_args, "--generator", str(pretrained_generator_dir)]) == 0
    out = Path(load_config(None, tiny_run_args).out_dir)
    metrics = [json.loads(line) for line in (out / "distill_metrics.jsonl").read_text().splitlines()]
    assert metrics and all("lm_loss" not in m and "samples_dropped" in m for m in metrics)


def test_a_generator_that_no_longer_ends_its_texts_stops_distillation_with_a_hint(tiny_run_args,
                                                                               pretrained_generator_dir, capsys):
    """One new token is never enough to write a text and end it: every draw is unfinished. Distillation
    stops at its first pool (at most 1 x 6 + 100 drops), naming the generator, distill.lr and, for a
    generator that fails from the first step, distill.max_new_tokens."""
    argv = ["distill", *tiny_run_args, "distill.max_new_tokens=1", "--generator", str(pretrained_generator_dir)]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "no longer writes finished texts for class 0" in err
    assert "lower distill.lr (now 0.001)" in err and "distill.lm_weight" in err
    assert "within distill.max_new_tokens (now 1): raise it" in err
    assert not (Path(load_config(None, tiny_run_args).out_dir) / "generator_distilled").exists()
