"""Class-token initialisation and the conditioning diagnostics."""

from __future__ import annotations

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer

from dilm import conditioning
from dilm.config import load_config
from dilm.errors import DilmError
from dilm.generator import class_vectors, load_generator, name_token_ids


def test_class_vectors_are_row_means():
    w = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0], [0.0, 8.0]])
    got = class_vectors(w, [[0, 1], [2], [1, 2, 3]])
    assert torch.equal(got, torch.tensor([[2.0, 1.0], [5.0, 4.0], [8 / 3, 14 / 3]]))


def test_label_name_init_starts_each_class_at_its_name(tiny_generator_dir):
    tok = AutoTokenizer.from_pretrained(tiny_generator_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_generator_dir).get_input_embeddings().weight.detach()
    names = ["dull_mess", "lovely story"]
    src = name_token_ids(tok, names)
    assert src[0] == tok.encode(" dull mess", add_special_tokens=False)  # '_' read as a space

    gen = load_generator(str(tiny_generator_dir), 2, pair=False, init_names=names)
    emb = gen.model.get_input_embeddings().weight.detach()
    for c in range(2):
        assert torch.allclose(emb[gen.class_token_ids[c]], base[src[c]].mean(0))
    assert torch.equal(emb[gen.sep_id], emb[gen.eos_id])
    assert conditioning.class_token_cosine(gen)[0, 1] < 0.99


def test_eos_init_gives_identical_class_tokens_that_ignore_the_class(tiny_generator_dir):
    gen = load_generator(str(tiny_generator_dir), 2, pair=False)
    emb = gen.model.get_input_embeddings().weight.detach()
    assert torch.equal(emb[gen.class_token_ids[0]], emb[gen.eos_id])
    assert conditioning.class_token_cosine(gen)[0, 1].item() == pytest.approx(1.0, abs=1e-6)
    ll = conditioning.class_loglik(gen, [("a great film",), ("a waste of time",)])
    assert ll.shape == (2, 2)
    assert torch.allclose(ll[:, 0], ll[:, 1], atol=1e-4)  # the same text is as likely under both


def test_class_loglik_is_the_sum_of_token_logprobs(tiny_generator_dir):
    gen = load_generator(str(tiny_generator_dir), 2, pair=False, init_names=["awful", "wonderful"])
    texts = [("a great film",), ("ugly , loud and stupid",)]
    ll = conditioning.class_loglik(gen, texts)
    with torch.no_grad():
        want, _ = gen.token_logprobs([gen.encode(texts[1], 0)], micro_batch=0)
    assert ll[1, 0].item() == pytest.approx(want.item(), abs=1e-4)
    assert not torch.allclose(ll[:, 0], ll[:, 1])  # distinct class tokens: different likelihoods


def test_generative_accuracy_takes_the_most_likely_class():
    loglik = torch.tensor([[-1.0, -2.0], [-5.0, -3.0], [-4.0, -9.0], [-2.0, -1.0]])
    assert conditioning.generative_accuracy(loglik, [0, 1, 1, 0]) == 50.0
    assert conditioning.generative_accuracy(loglik, [0, 1, 0, 1]) == 100.0
    with pytest.raises(ValueError, match="as many labels"):
        conditioning.generative_accuracy(loglik, [0, 1])


def test_wrong_number_of_names_is_an_error(tiny_generator_dir):
    with pytest.raises(DilmError, match="3 class names for 2 classes"):
        load_generator(str(tiny_generator_dir), 2, pair=False, init_names=["a", "b", "c"])


def test_config_choice_is_checked():
    assert load_config(None, ["model.class_token_init=label_names"]).model.class_token_init == "label_names"
    with pytest.raises(DilmError, match="model.class_token_init"):
        load_config(None, ["model.class_token_init=names"])


def test_run_with_label_name_init_and_an_older_config_folder(tiny_run_args, tmp_path):
    from dilm.cli import main

    out = tmp_path / "run"
    args = [*tiny_run_args, "stages=[pretrain]", "pretrain.steps=2", "pretrain.checkpoint_every=0"]
    assert main(["run", *args, "model.class_token_init=label_names"]) == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["model"]["class_token_init"] == "label_names"

    # a folder written before the key existed still counts as the same run (the default fills it)
    del saved["model"]["class_token_init"]
    (out / "config.yaml").write_text(yaml.safe_dump(saved))
    assert main(["run", *args]) == 0
