"""`icl`: prompts from templates, label-word scoring against a direct computation, orders, store resume, CLI."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from conftest import count_calls

from dilm import icl
from dilm.cli import main
from dilm.data import DATASETS, DataConfig, DatasetSpec, Split, load_dataset
from dilm.errors import DilmError
from dilm.learner import TrainConfig
from dilm.sets import describe_set
from dilm.store import ResultStore, protocol_hash

CONTEXT = 400  # the tiny Llama's rotary positions go past its nominal 128; prompts here need ~250


def write_set(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture()
def sets(tmp_path):
    """Two DPC-2 sets in a run folder's layout (4 demonstrations each)."""
    a = write_set(tmp_path / "run/sets/dpc_2/set_0.jsonl", [
        {"sentence": "a great and moving film", "label": 1}, {"sentence": "beautiful and touching", "label": 1},
        {"sentence": "a waste of time", "label": 0}, {"sentence": "i hated the ending", "label": 0}])
    b = write_set(tmp_path / "run/sets/dpc_2/set_1.jsonl", [
        {"sentence": "funny , warm and smart", "label": 1}, {"sentence": "the best movie of the year", "label": 1},
        {"sentence": "a dull and boring mess", "label": 0}, {"sentence": "the plot makes no sense", "label": 0}])
    return [describe_set(a), describe_set(b)]


@pytest.fixture(scope="module")
def lm(tiny_generator_dir):
    return icl.load_icl_model(str(tiny_generator_dir), precision="fp32", max_context=CONTEXT)


@pytest.fixture()
def counted(monkeypatch):
    """Count model loads and label scorings inside icl."""
    return count_calls(monkeypatch, icl, load="load_icl_model", score="label_logprobs")


# ---- templates and prompts --------------------------------------------------------------------

def test_sst2_prompt_is_exact():
    t = icl.template_for(DATASETS["sst2"])
    demos = Split([("a great film",), (" a dull mess ",), ("so so",)], [1, 0, 0])
    order = icl.demonstration_order(3, 0)
    blocks = {0: "Review: a great film\nSentiment: positive\n\n", 1: "Review: a dull mess\nSentiment: negative\n\n",
              2: "Review: so so\nSentiment: negative\n\n"}
    expected = "".join(blocks[i] for i in order) + "Review: what a ride\nSentiment:"
    assert icl.build_prompt(t, demos, 0, ("what a ride",)) == expected
    assert t.continuations() == (" negative", " positive")
    assert icl.demonstrations_text(t, demos, [2, 0]) == blocks[2] + blocks[0]


def test_pair_and_generic_templates():
    mrpc = icl.template_for(DATASETS["mrpc"])
    assert mrpc.demonstration(("It rained.", "Rain fell."), 1) == \
        "Sentence 1: It rained.\nSentence 2: Rain fell.\nSame meaning: yes"
    spec = DatasetSpec("mine", ("question", "answer_text"), ("not_ok", "ok"))
    t = icl.template_for(spec)
    assert t.name == "generic:mine"
    assert t.demonstration(("why {x}?", "because"), 0) == "Question: why {x}?\nAnswer text: because\nLabel: not ok"
    assert t.query(("q", "a")) == "Question: q\nAnswer text: a\nLabel:"
    assert t.continuations() == (" not ok", " ok")
    # a built-in name whose classes were overridden no longer fits its template
    other = icl.template_for(DatasetSpec("sst2", ("sentence",), ("neg", "neu", "pos")))
    assert other.name == "generic:sst2" and other.label_words == ("neg", "neu", "pos")
    with pytest.raises(ValueError, match="registered twice"):
        icl.register_template(icl.TEMPLATES["sst2"])


def test_orders_are_seeded_permutations():
    assert icl.demonstration_order(10, 3) == icl.demonstration_order(10, 3)
    orders = [tuple(icl.demonstration_order(10, r)) for r in range(5)]
    assert len(set(orders)) == 5 and all(sorted(o) == list(range(10)) for o in orders)


def test_protocol_hash_is_distinct_and_covers_the_limit():
    _, p = icl.icl_protocol(DATASETS["sst2"], 100, "bf16")
    assert p.hash().startswith("icl-") and p.fields()["label_words"] == ("negative", "positive")
    assert p.hash() != icl.icl_protocol(DATASETS["sst2"], 50, "bf16")[1].hash()
    assert p.hash() != icl.icl_protocol(DATASETS["sst2"], 100, "fp32")[1].hash()
    assert p.hash()[4:] != protocol_hash(TrainConfig(), max_length=64, precision="bf16")


def test_protocol_records_the_resolved_precision_not_auto(monkeypatch):
    from dilm import precision_probe

    monkeypatch.setattr(precision_probe, "_resolved", {})
    monkeypatch.setenv("DILM_PRECISION_PROBE", "bf16=0.8,fp32=34")
    _, p = icl.icl_protocol(DATASETS["sst2"], 100, "auto")
    assert p.precision == "fp32" and p.hash() == icl.icl_protocol(DATASETS["sst2"], 100, "fp32")[1].hash()


# ---- scoring ----------------------------------------------------------------------------------

def direct_logprob(model, ids: list[int], n_cont: int) -> float:
    """Sum of log p of the last `n_cont` tokens of `ids`, from one uncached forward pass."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float()  # (L, V)
    logp = torch.log_softmax(logits[:-1], dim=-1)
    return sum(logp[i - 1, ids[i]].item() for i in range(len(ids) - n_cont, len(ids)))


def test_label_logprobs_match_a_direct_computation(lm):
    prefix, query = lm.encode("Review: a great film\nSentiment: positive\n\n"), lm.encode("Review: ok\nSentiment:")
    conts = [lm.encode(" positive"), lm.encode(" no"), lm.encode(" a")]  # different lengths
    assert len({len(c) for c in conts}) > 1
    cache = icl.prefill(lm.model, prefix)
    got = icl.label_logprobs(lm.model, cache, query, conts)
    want = [direct_logprob(lm.model, prefix + query + c, len(c)) for c in conts]
    assert got.tolist() == pytest.approx(want, abs=1e-4)
    again = icl.label_logprobs(lm.model, cache, query, conts)  # the prefix cache is not consumed
    assert again.tolist() == pytest.approx(want, abs=1e-4)
    no_prefix = icl.label_logprobs(lm.model, None, prefix + query, conts)
    assert no_prefix.tolist() == pytest.approx(want, abs=1e-4)


def test_classify_picks_the_most_likely_label_word(lm):
    t = icl.template_for(DATASETS["sst2"])
    demos = Split([("a great film",), ("a dull mess",)], [1, 0])
    queries = [("i loved every minute of it",), ("a waste of time",), ("ugly , loud and stupid",)]
    prefix = lm.encode(icl.demonstrations_text(t, demos, icl.demonstration_order(2, 1)))
    conts = [lm.encode(c) for c in t.continuations()]
    want = []
    for q in queries:
        ids = prefix + lm.encode(t.query(q))
        lls = [direct_logprob(lm.model, ids + c, len(c)) for c in conts]
        want.append(max(range(2), key=lambda c: lls[c]))
    assert icl.classify(lm, t, demos, 1, queries) == want


def test_classify_follows_the_scores(lm, monkeypatch):
    t = icl.template_for(DATASETS["sst2"])
    demos = Split([("a great film",), ("a dull mess",)], [1, 0])
    monkeypatch.setattr(icl, "label_logprobs", lambda *a: torch.tensor([-3.0, -1.0]))
    assert icl.classify(lm, t, demos, 0, [("x",), ("y",)]) == [1, 1]
    monkeypatch.setattr(icl, "label_logprobs", lambda *a: torch.tensor([-0.5, -1.0]))
    assert icl.classify(lm, t, demos, 0, [("x",)]) == [0]


def test_demonstrations_are_dropped_to_fit_the_context(lm, caplog):
    t = icl.template_for(DATASETS["sst2"])
    demos = Split([(s,) for s in ("a great and moving film", "the worst film in years", "beautiful and touching",
                                  "a waste of time")], [1, 0, 1, 0])
    small = icl.IclModel(lm.model, lm.tokenizer, max_context=128, precision="fp32")
    with caplog.at_level(logging.INFO, logger="dilm.icl"):
        preds = icl.classify(small, t, demos, 0, [("funny , warm and smart",)], desc="fit")
    assert len(preds) == 1 and "fit: kept" in caplog.text and "of 4 demonstrations" in caplog.text
    tiny = icl.IclModel(lm.model, lm.tokenizer, max_context=20, precision="fp32")
    with caplog.at_level(logging.INFO, logger="dilm.icl"):
        assert len(icl.classify(tiny, t, demos, 0, [("a long review " * 5,)], desc="cut")) == 1
    assert "kept 0 of 4" in caplog.text and "keep their last" in caplog.text


# ---- store and CLI ----------------------------------------------------------------------------

def test_store_resumes_and_limit_is_respected(tiny_generator_dir, tiny_data_dir, sets, tmp_path, counted):
    ds = load_dataset(DataConfig(dataset=str(tiny_data_dir)))
    model = str(tiny_generator_dir)
    kw = {"precision": "fp32", "limit": 3, "max_context": CONTEXT}
    with ResultStore(tmp_path / "r.sqlite") as store:
        new = icl.icl_sets(sets, model, 2, ds.spec, ds.validation, store, **kw)
        assert counted == {"load": 1, "score": 2 * 2 * 3}  # sets x orders x examples
        assert sorted((r.set_path, r.key.seed) for r in new) == sorted((str(s.path), o) for s in sets for o in (0, 1))
        for r in new:
            assert r.key.learner == f"icl:{model}" and r.key.protocol.startswith("icl-")
            assert r.protocol_fields["examples"] == 3 and r.method == "dilm" and r.dpc == 2
            assert 0 <= r.score <= 100 and r.score == r.metric_values["accuracy"]
        # resume: nothing loaded, nothing scored
        assert icl.icl_sets(sets, model, 2, ds.spec, ds.validation, store, **kw) == []
        assert counted == {"load": 1, "score": 12}
        # one more order: only it
        more = icl.icl_sets(sets, model, 3, ds.spec, ds.validation, store, **kw)
        assert [r.key.seed for r in more] == [2, 2] and counted["score"] == 18
        # another limit is another protocol
        other = icl.icl_sets(sets[:1], model, 1, ds.spec, ds.validation, store, **{**kw, "limit": 2})
        assert len(other) == 1 and counted["score"] == 20 and len(store.query()) == 7
        _, proto = icl.icl_protocol(ds.spec, 3, "fp32", CONTEXT)
        assert len(icl.stored_results(store, sets, model, 3, proto)) == 6


def test_a_bad_set_fails_before_the_model_loads(tiny_data_dir, sets, tmp_path, counted):
    ds = load_dataset(DataConfig(dataset=str(tiny_data_dir)))
    bad = write_set(tmp_path / "bad/dpc_1/set_0.jsonl", [{"sentence": "ok", "label": 7}])
    with ResultStore(tmp_path / "r.sqlite") as store, pytest.raises(DilmError, match="line 1: label 7"):
        icl.icl_sets([*sets, describe_set(bad, "mine")], "unused", 1, ds.spec, ds.validation, store)
    assert counted["load"] == 0


def test_cli_icl_end_to_end(tiny_generator_dir, tiny_data_dir, sets, tmp_path, counted, capsys):
    store = tmp_path / "results.sqlite"
    args = ["icl", str(tmp_path / "run" / "sets"), "--model", str(tiny_generator_dir), "--orders", "2",
            "--limit", "4", "--max-context", str(CONTEXT), "--store", str(store), "--dataset", str(tiny_data_dir)]
    assert main(args) == 0  # default precision auto: bf16 under the fake probe rates of conftest.py
    out = capsys.readouterr().out
    assert "4 new runs stored" in out and "dilm dpc 2: accuracy" in out and "(n=4: 2 sets × 2 orders)" in out
    assert counted["score"] == 2 * 2 * 4
    assert main(args) == 0
    again = capsys.readouterr().out
    assert "0 new runs stored" in again and "(n=4: 2 sets × 2 orders)" in again and counted["load"] == 1
    with ResultStore(store) as s:
        records = s.query()
    assert len(records) == 4 and {r.protocol_fields["precision"] for r in records} == {"bf16"}
    assert main([*args[:5], "0", *args[6:]]) == 2
    assert "--orders must be >= 1" in capsys.readouterr().err
