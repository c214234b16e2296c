"""Conditioning layouts: how the class reaches the generator (dilm/layout.py).

Every layout, for single texts and pairs, with and without a chat template: encode, score
(shared-prefix scoring equals the full sequence), sample, parse back, save and reload.
"""

from __future__ import annotations

import pytest
import torch
from conftest import NEGATIVE, POSITIVE

from dilm.errors import DilmError
from dilm.generator import load_generator
from dilm.layout import LAYOUTS, Conditioning, build_prefixes, check_template, instructions, label_text, match_prefix

CHAT = ("{% for m in messages %}<eos>{{ m['role'] }}\n{{ m['content'] }}<pad>\n{% endfor %}"
        "{% if add_generation_prompt %}<eos>assistant\n{% endif %}")
NAMES = ("not_good", "good")


def make(tiny_generator_dir, layout: str, pair: bool, chat: bool):
    gen = load_generator(str(tiny_generator_dir), 2, pair, max_length=64,
                         conditioning=Conditioning(layout, "eos", NAMES,
                                                   tuple(instructions("Write a {label} {description}.", "review",
                                                                      NAMES))))
    if chat:  # only the instruction layout reads the template, when the generator is built
        gen.tokenizer.chat_template = CHAT
        gen.prefixes = build_prefixes(gen.tokenizer, layout, NAMES,
                                      instructions("Write a {label} {description}.", "review", NAMES),
                                      gen.prefixes and [p[0] for p in gen.prefixes])
    return gen


def texts_of(pair: bool):
    return [(POSITIVE[i], NEGATIVE[i]) if pair else (POSITIVE[i],) for i in range(4)]


CASES = [(layout, pair, chat) for layout in LAYOUTS for pair in (False, True) for chat in (False, True)
         if chat is False or layout == "instruction"]


@pytest.mark.parametrize("layout,pair,chat", CASES)
def test_encode_decode_round_trip(tiny_generator_dir, layout, pair, chat):
    gen = make(tiny_generator_dir, layout, pair, chat)
    for label in (0, 1):
        for text in texts_of(pair):
            seq = gen.encode(text, label)
            assert seq[: len(gen.prefixes[label])] == gen.prefixes[label]
            assert seq[-1] == gen.eos_id
            assert gen.label_of(seq) == label
            assert gen.decode(seq) == text
    assert gen.prefixes[0] != gen.prefixes[1]


@pytest.mark.parametrize("layout,pair,chat", CASES)
def test_sample_then_parse(tiny_generator_dir, monkeypatch, layout, pair, chat):
    """The sampling loop continues the class prefix and stops at EOS: with the draws scripted to
    spell a text, each sample is exactly `encode(text, label)` and parses back to the text."""
    import dilm.generator as generator

    gen = make(tiny_generator_dir, layout, pair, chat)
    text = texts_of(pair)[1]
    script = iter(gen.encode(text, 1)[len(gen.prefixes[1]):])
    seen_masked = []

    def scripted(logits, top_p, rng=None):
        seen_masked.append(bool(torch.isinf(logits[:, gen.never_targets]).all()) if gen.never_targets else True)
        return torch.full((logits.shape[0],), next(script), dtype=torch.long)

    monkeypatch.setattr(generator, "top_p_sample", scripted)
    seqs, dropped = gen.sample(1, 3, max_new_tokens=64, batch_size=3, precision="fp32")
    assert dropped == 0 and seqs == [gen.encode(text, 1)] * 3
    assert [gen.decode(s) for s in seqs] == [text] * 3 and all(seen_masked)


@pytest.mark.parametrize("layout,pair,chat", CASES)
def test_scoring_equals_the_full_sequence(tiny_generator_dir, layout, pair, chat):
    """Shared-prefix scoring (one prefix pass per class) gives the full padded computation's values,
    counting only tokens after the prefix, for mixed classes and lengths in one chunk."""
    gen = make(tiny_generator_dir, layout, pair, chat)
    gen.model.eval()
    seqs = [gen.encode(t, i % 2) for i, t in enumerate(texts_of(pair) * 2)]
    expected = []
    with torch.no_grad():
        for s in seqs:
            start = len(gen.prefixes[gen.label_of(s)])
            logits = gen.model(input_ids=torch.tensor([s])).logits[0, :-1].double()
            logits[:, gen.never_targets] = float("-inf")
            logp = torch.log_softmax(logits, -1)[torch.arange(len(s) - 1), torch.tensor(s[1:])]
            expected.append(logp[start - 1:].sum())
        for micro in (0, 3):
            total, count = gen.token_logprobs(seqs, micro_batch=micro)
            torch.testing.assert_close(total.double(), torch.stack(expected), rtol=1e-4, atol=1e-4)
            assert count.tolist() == [len(s) - len(gen.prefixes[gen.label_of(s)]) for s in seqs]


def test_shared_prefix_scoring_has_gradient_through_the_prefix(tiny_generator_dir):
    gen = make(tiny_generator_dir, "plain_instruction", False, False)
    loss = gen.lm_loss([gen.encode((POSITIVE[0],), 1), gen.encode((NEGATIVE[0],), 0)])
    loss.backward()
    emb = gen.model.get_input_embeddings().weight.grad
    prefix_only = set(gen.prefixes[0]) - set(gen.encode((NEGATIVE[0],), 0)[len(gen.prefixes[0]):])
    assert all(emb[t].abs().sum() > 0 for t in prefix_only)


def test_never_targets(tiny_generator_dir):
    single, pair = (make(tiny_generator_dir, "class_token", p, False) for p in (False, True))
    assert set(single.never_targets) == {*single.class_token_ids, single.sep_id}
    assert set(pair.never_targets) == set(pair.class_token_ids)
    assert make(tiny_generator_dir, "instruction", False, False).never_targets == []  # nothing added
    inst_pair = make(tiny_generator_dir, "instruction", True, False)
    assert inst_pair.never_targets == [] and inst_pair.sep_id in inst_pair.tokenizer.get_added_vocab().values()


def test_prefixes_by_layout(tiny_generator_dir):
    tok = make(tiny_generator_dir, "label_words", False, False).tokenizer
    eos = tok.eos_token_id
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    texts = instructions("Write a {label} {description}.", "review", NAMES)
    assert texts == ["Write a not good review.", "Write a good review."]
    assert build_prefixes(tok, "label_words", NAMES, texts) == [[eos] + enc("not good:\n"), [eos] + enc("good:\n")]
    plain = [[eos] + enc(t + "\n") for t in texts]
    assert build_prefixes(tok, "plain_instruction", NAMES, texts) == plain
    assert build_prefixes(tok, "instruction", NAMES, texts) == plain  # no chat template: plain fallback
    tok.chat_template = CHAT
    chat = build_prefixes(tok, "instruction", NAMES, texts)
    assert chat[1] == enc("<eos>user\nWrite a good review.<pad>\n<eos>assistant\n")
    assert build_prefixes(tok, "class_token", NAMES, texts, [7, 9]) == [[7], [9]]


def test_save_and_load_keep_the_layout(tiny_generator_dir, tmp_path):
    gen = make(tiny_generator_dir, "instruction", True, True)
    gen.save(tmp_path / "g")
    back = load_generator(str(tmp_path / "g"), 2, True)  # no conditioning given: the folder's own
    assert back.layout == "instruction" and back.prefixes == gen.prefixes
    pair = (POSITIVE[0], NEGATIVE[0])
    assert back.encode(pair, 0) == gen.encode(pair, 0) and back.decode(gen.encode(pair, 1)) == pair


def test_templates_and_prefix_checks():
    assert label_text("not_equivalent") == "not equivalent"
    check_template("Write a {label} {description}.")
    with pytest.raises(DilmError, match="must contain {label}"):
        check_template("Write a {description}.")
    with pytest.raises(DilmError, match="unknown field.*topic"):
        check_template("Write a {label} {topic}.")
    with pytest.raises(DilmError, match="not a valid format string"):
        check_template("Write a {label")
    with pytest.raises(DilmError, match="same conditioning prefix"):
        build_prefixes(None, "class_token", NAMES, [], [5, 5])
    assert match_prefix([[1, 2], [1, 3]], [1, 3, 4]) == 1 and match_prefix([[1, 2]], [2, 1]) is None


def test_dataset_instructions_from_spec_config_and_info(tmp_path):
    from dilm.config import DataConfig
    from dilm.data import resolve_spec

    sst2, _ = resolve_spec(DataConfig(dataset="sst2"))
    assert sst2.instructions() == ["Write a negative movie review.", "Write a positive movie review."]
    folder = tmp_path / "reviews"
    folder.mkdir()
    (folder / "info.json").write_text('{"text_fields": ["t"], "label_names": ["bad", "good"], '
                                      '"description": "hotel review"}')
    spec, _ = resolve_spec(DataConfig(dataset=str(folder)))
    assert spec.instructions()[1] == 'Write a hotel review with the label "good".'
    spec, _ = resolve_spec(DataConfig(dataset=str(folder), instruction="Write a {label} stay report."))
    assert spec.instructions() == ["Write a bad stay report.", "Write a good stay report."]
    with pytest.raises(DilmError, match="must contain {label}"):
        resolve_spec(DataConfig(dataset=str(folder), instruction="Write something."))
    pair, _ = resolve_spec(DataConfig(dataset=str(folder), text_fields=["a", "b"]))
    assert pair.instructions()[0] == 'Write a pair of texts (hotel review) with the label "bad".'


@pytest.mark.parametrize("pair", [False, True])
def test_run_end_to_end_with_the_instruction_layout(tiny_run_args, pair_data_dir, pair):
    """`dilm run model.conditioning=instruction` (no chat template here: the plain form) writes sets,
    and its generators keep the layout; posterior filtering on top."""
    import json
    from collections import Counter
    from pathlib import Path

    from dilm.cli import main

    args = [*tiny_run_args, "model.conditioning=instruction", "generate.posterior_keep=0.5"]
    if pair:
        args += [f"data.dataset={pair_data_dir}", "pretrain.steps=100", "distill.max_new_tokens=48",
                 "generate.max_new_tokens=48"]
    assert main(["run", *args]) == 0
    out = Path([a for a in args if a.startswith("out_dir=")][-1].split("=", 1)[1])
    rows = [json.loads(line) for line in (out / "sets" / "dpc_2" / "set_0.jsonl").read_text().splitlines()]
    assert Counter(r["label"] for r in rows) == {0: 2, 1: 2}
    fields = ("sentence1", "sentence2") if pair else ("sentence",)
    assert all(all(r[f].strip() for f in fields) for r in rows)
    meta = json.loads((out / "generator_distilled" / "dilm_generator.json").read_text())
    assert meta["layout"] == "instruction" and len(meta["prefixes"]) == 2
    first = "not equivalent" if pair else "negative"
    gen = load_generator(str(out / "generator_distilled"), 2, pair)
    assert first in gen.tokenizer.decode(gen.prefixes[0])


def test_an_old_run_folder_meant_class_tokens(tiny_run_args, tmp_path):
    """A config.yaml written before model.conditioning existed is read as the class-token layout:
    rerunning it with that layout is the same run, with another layout it is another run."""
    import yaml

    from dilm.cli import main

    out = tmp_path / "run"
    args = [*tiny_run_args, "stages=[pretrain]", "pretrain.steps=2", "pretrain.checkpoint_every=0"]
    assert main(["run", *args, "model.conditioning=class_token"]) == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    del saved["model"]["conditioning"]
    (out / "config.yaml").write_text(yaml.safe_dump(saved))
    assert main(["run", *args, "model.conditioning=class_token"]) == 0
    assert main(["run", *args, "model.conditioning=instruction"]) == 2  # another run's folder: refused


@pytest.mark.parametrize("layout", LAYOUTS)
def test_shares_of_a_batch_sum_to_the_whole_batch_gradient(tiny_generator_dir, layout):
    """Data-parallel pre-training: each process's share, divided by the global batch size, adds up
    to one process's gradient on the whole batch (prefix groups split differently in each share)."""
    gen = make(tiny_generator_dir, layout, False, False)
    seqs = [gen.encode((t,), i % 2) for i, t in enumerate(POSITIVE + NEGATIVE)]

    def grads(parts):
        gen.model.zero_grad()
        for part in parts:
            gen.lm_loss(part, len(seqs)).backward()
        return [p.grad.clone() for p in gen.model.parameters()]

    whole, shared = grads([seqs]), grads([seqs[0::2], seqs[1::2]])
    for a, b in zip(whole, shared):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


def test_validate_prints_the_prefix_the_model_reads(tiny_run_args, capsys):
    from dilm.cli import main

    assert main(["validate", *tiny_run_args, "model.conditioning=instruction"]) == 0
    out = capsys.readouterr().out
    assert "conditioning: instruction (no chat template: plain); class 0 starts" in out
    assert 'Write a text with the label "negative".\\n' in out  # the plain default instruction, as repr
    assert main(["validate", *tiny_run_args, "model.conditioning=class_token"]) == 0
    assert "conditioning: class_token (<bos_0>..<bos_1>, starting from eos)" in capsys.readouterr().out
