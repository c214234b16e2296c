"""Step 3: sampling from a (briefly pre-trained) tiny generator and per-class selection."""

from __future__ import annotations

from collections import Counter

import pytest

from dilm.config import GenerateConfig
from dilm.data import DatasetSpec
from dilm.errors import DilmError
from dilm.generate import generate_sets, part_size, set_path
from dilm.generator import load_generator
from dilm.io import read_jsonl

SPEC = DatasetSpec("tiny_sst", ("sentence",), ("negative", "positive"))


@pytest.fixture()
def pretrained(pretrained_generator_dir):
    return load_generator(str(pretrained_generator_dir), 2, pair=False, max_length=16)


def test_sample_gives_parseable_sequences_of_the_class(pretrained):
    gen = pretrained
    seqs, dropped = gen.sample(1, 5, max_new_tokens=20, batch_size=4)
    assert len(seqs) == 5 and dropped >= 0
    for s in seqs:
        assert s[0] == gen.class_token_ids[1]
        assert s[-1] == gen.eos_id and gen.eos_id not in s[1:-1]
        assert not set(gen.class_token_ids) & set(s[1:])  # class tokens are suppressed
        assert gen.sep_id not in s  # single-text task: no <sep>
        assert gen.decode(s) is not None


@pytest.mark.parametrize("selection", ["kcenters", "herding", "random"])
def test_generate_sets_writes_k_rows_per_class(pretrained, tiny_learner, tmp_path, selection):
    cfg = GenerateConfig(dpc=[3, 1], oversample=2, num_sets=2, max_new_tokens=20, batch_size=8,
                         selection=selection)
    paths = generate_sets(pretrained, tiny_learner, SPEC, cfg, tmp_path, seed=0, features="mean")
    assert sorted(paths) == sorted(set_path(tmp_path, k, i) for k in (1, 3) for i in (0, 1))
    for path in paths:
        k = int(path.parent.name.removeprefix("dpc_"))
        rows = read_jsonl(path)
        assert Counter(r["label"] for r in rows) == {0: k, 1: k}
        for r in rows:
            assert set(r) == {"sentence", "label", "label_name"}
            assert r["label_name"] == SPEC.label_names[r["label"]]
            assert isinstance(r["sentence"], str) and r["sentence"].strip()


def test_generate_sets_same_seed_same_rows(pretrained, tiny_learner, tmp_path):
    cfg = GenerateConfig(dpc=[2], oversample=2, max_new_tokens=20, batch_size=8)
    first = read_jsonl(generate_sets(pretrained, tiny_learner, SPEC, cfg, tmp_path / "a", 5, "mean")[0])
    second = read_jsonl(generate_sets(pretrained, tiny_learner, SPEC, cfg, tmp_path / "b", 5, "mean")[0])
    assert first == second


def test_generate_sets_can_drop_training_copies(pretrained, tiny_learner, tmp_path):
    """With drop_train_copies, no selected row repeats a training text verbatim."""
    from dilm.data import Split
    from dilm.generate import normalise

    gen = pretrained
    pool = [gen.decode(s) for s in gen.sample(0, 10, max_new_tokens=20)[0]]
    train = Split(pool, [0] * len(pool))  # pretend everything just sampled is training data
    cfg = GenerateConfig(dpc=[1], oversample=2, max_new_tokens=20, drop_train_copies=True)
    rows = read_jsonl(generate_sets(gen, tiny_learner, SPEC, cfg, tmp_path, 0, "mean", train)[0])
    banned = {normalise(t) for t in pool}
    assert len(rows) == 2 and all(normalise((r["sentence"],)) not in banned for r in rows)


def test_own_posterior_is_the_normalised_likelihood():
    import math

    import torch

    from dilm.generate import own_posterior

    ll = torch.tensor([[math.log(0.2), math.log(0.6)], [-1.0, -1.0], [-3.0, -800.0]])  # log p(x | c)
    torch.testing.assert_close(own_posterior(ll, 1), torch.tensor([0.75, 0.5, 0.0], dtype=torch.float64))
    torch.testing.assert_close(own_posterior(ll, 0), torch.tensor([0.25, 0.5, 1.0], dtype=torch.float64))


def test_most_confident_keeps_the_top_in_index_order():
    import torch

    from dilm.generate import most_confident

    assert most_confident(torch.tensor([0.1, 0.9, 0.5, 0.9, 0.2]), 3) == [1, 2, 3]
    assert most_confident(torch.tensor([0.5, 0.5, 0.5]), 2) == [0, 1]


def test_pick_filters_then_selects_within_the_first_pool_rows():
    import torch

    from dilm.generate import pick

    # 6 rows on a line; only the first 4 form the DPC's pool
    emb = torch.tensor([[0.0], [10.0], [1.0], [11.0], [5.0], [6.0]])
    confidence = torch.tensor([0.9, 0.2, 0.8, 0.7, 1.0, 1.0])
    # keep 1: herding of rows 0..3 (mean 5.5): first the row nearest the mean, 10 and 1 tie at 4.5
    # and the earlier (row 1) wins; then the row that brings the mean to 5.5: (10 + 1) / 2 (row 2)
    assert pick(emb, confidence, 2, 4, 1.0, "herding") == [1, 2]
    # keep 0.75 drops the least confident of rows 0..3 (row 1): herding of rows 0, 2, 3 (mean 4)
    # picks 1 (|1 - 4| = 3 < 4), then 11 (mean 6, gap 2) over 0 (mean 0.5, gap 3.5)
    assert pick(emb, confidence, 2, 4, 0.75, "herding") == [2, 3]
    # no confidence: no filter, whatever keep says; rows 4 and 5 are never candidates
    assert sorted(pick(emb, None, 4, 4, 0.5, "kcenters")) == [0, 1, 2, 3]
    # keep never leaves fewer than k rows
    assert sorted(pick(emb, confidence, 3, 4, 0.1, "random")) == [0, 2, 3]
    # a target (the class's real mean) replaces the kept pool's mean: rows 0, 2, 3 towards 0.2 pick
    # 0 (gap 0.04), then 1 (mean 0.5, gap 0.09) over 11 (mean 5.5)
    assert pick(emb, confidence, 2, 4, 0.75, "herding", target=torch.tensor([0.2])) == [0, 2]
    with pytest.raises(DilmError, match="target is for herding, not 'kcenters'"):
        pick(emb, confidence, 2, 4, 0.75, "kcenters", target=torch.tensor([0.2]))


def test_posterior_filter_selects_only_from_the_confident_share(pretrained, tiny_learner, tmp_path, monkeypatch):
    """posterior_keep=0.5: every written row is among the half of its class's pool that the
    generator's own posterior ranks highest for that class."""
    import dilm.generate as generate
    from dilm.conditioning import class_loglik
    from dilm.config import load_config
    from dilm.errors import DilmError

    pools = []  # (texts, log-likelihoods) of each class's pool, in class order

    def spy(gen, texts, *a, **k):
        ll = class_loglik(gen, texts, *a, **k)
        pools.append((list(texts), ll))
        return ll

    monkeypatch.setattr(generate, "class_loglik", spy)
    cfg = GenerateConfig(dpc=[2], oversample=4, max_new_tokens=20, batch_size=8, posterior_keep=0.5)
    rows = read_jsonl(generate_sets(pretrained, tiny_learner, SPEC, cfg, tmp_path, 0, "mean")[0])
    assert Counter(r["label"] for r in rows) == {0: 2, 1: 2} and len(pools) == 2
    for r in rows:
        texts, ll = pools[r["label"]]
        post = generate.own_posterior(ll, r["label"])
        kept = set(generate.most_confident(post, 4))  # half of the 8-sample pool
        assert any(texts[i] == (r["sentence"],) for i in kept)
    with pytest.raises(DilmError, match="posterior_keep"):
        load_config(None, ["generate.posterior_keep=0"])


def test_generate_features_reach_the_selection_and_the_fingerprint(tiny_run_args, pretrained_generator_dir,
                                                                   tmp_path, monkeypatch):
    """generate.features: "" (the default) selects on the run's `features` and keeps the tag that run
    folders had before the key existed; "cls" selects on [CLS] and is another generation."""
    import yaml

    from dilm import pipeline
    from dilm.cli import main
    from dilm.config import load_config
    from dilm.errors import DilmError

    run, cls = (load_config(None, [*tiny_run_args, *extra]) for extra in ([], ["generate.features=cls"]))
    with monkeypatch.context() as m:  # dump_config as it was before the key existed
        real = pipeline.dump_config

        def without_key(cfg):
            tree = yaml.safe_load(real(cfg))
            del tree["generate"]["features"]
            return yaml.safe_dump(tree)

        m.setattr(pipeline, "dump_config", without_key)
        old = pipeline.fingerprint(run, "generate", "g")
    assert pipeline.fingerprint(run, "generate", "g") == old
    assert pipeline.fingerprint(cls, "generate", "g") != old
    with pytest.raises(DilmError, match="generate.features"):
        load_config(None, [*tiny_run_args, "generate.features=max"])

    seen = []
    real_generate = pipeline.generate_sets

    def spy(*a):
        seen.append(a[6])  # the features the selection embeds with
        return real_generate(*a)

    monkeypatch.setattr(pipeline, "generate_sets", spy)
    for extra in ([], ["generate.features=cls", "generate.selection=herding"]):
        argv = ["generate", *tiny_run_args, f"out_dir={tmp_path / str(len(extra))}", "--generator",
                str(pretrained_generator_dir), *extra]
        assert main(argv) == 0
    assert seen == [run.features, "cls"]
    rows = read_jsonl(tmp_path / "2" / "sets" / "dpc_2" / "set_0.jsonl")
    assert Counter(r["label"] for r in rows) == {0: 2, 1: 2}


def test_holdout_min_words_at_its_default_keeps_every_stage_tag(tiny_run_args, monkeypatch):
    """data.holdout_min_words: 0 (the default) leaves the pretrain, distil and generate tags as run
    folders had them before the key existed; a whole-sentence carve-out is other training data."""
    import yaml

    from dilm import pipeline
    from dilm.config import load_config

    run = load_config(None, [*tiny_run_args, "data.holdout=4"])
    long = load_config(None, [*tiny_run_args, "data.holdout=4", "data.holdout_min_words=5"])
    real = pipeline.dump_config

    def without_key(cfg):
        tree = yaml.safe_load(real(cfg))
        del tree["data"]["holdout_min_words"]
        return yaml.safe_dump(tree)

    for stage in ("pretrain", "distill", "generate"):
        with monkeypatch.context() as m:
            m.setattr(pipeline, "dump_config", without_key)
            old = pipeline.fingerprint(run, stage, "g")
        assert pipeline.fingerprint(run, stage, "g") == old
        assert pipeline.fingerprint(long, stage, "g") != old


def test_part_size_is_oversample_times_dpc_capped_by_an_equal_share_of_the_pool():
    one = GenerateConfig(dpc=[5, 10, 20], oversample=100, trials=1)
    assert part_size(2000, one, 5) == 500  # the first 100 x 5 rows
    four = GenerateConfig(dpc=[5, 10, 20], oversample=100, trials=4)
    assert [part_size(2000, four, k) for k in (5, 10, 20)] == [500, 500, 500]  # 2000 // 4 caps DPC 10 and 20
    # the DPC-5-only generation of benchmarks/sst2_ablation_avx2.sh: the same 2,000-row pool, the same parts
    alone = GenerateConfig(dpc=[5], oversample=400, trials=4)
    assert part_size(400 * 5, alone, 5) == 500
    assert part_size(7, four, 5) == 1  # a pool short of its size: equal shares, rounded down
