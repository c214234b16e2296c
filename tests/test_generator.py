"""Generator token layout `<bos_c> s1 [<sep> s2] <eos>`, parsing, and masked LM scoring."""

from __future__ import annotations

import pytest
import torch
from conftest import NEGATIVE, POSITIVE

from dilm.errors import DilmError


def body_ids(gen, text: str) -> list[int]:
    return gen.tokenizer(text, add_special_tokens=False)["input_ids"]


# ---- formatting -------------------------------------------------------------------------------

def test_special_tokens_are_distinct_single_tokens(tiny_pair_generator):
    gen = tiny_pair_generator
    ids = [*gen.class_token_ids, gen.sep_id, gen.eos_id]
    assert len(set(ids)) == len(ids) == 4
    assert gen.tokenizer.unk_token_id not in ids
    assert gen.model.get_input_embeddings().weight.shape[0] >= max(ids) + 1


def test_encode_single_text_layout(tiny_generator):
    gen = tiny_generator
    text = POSITIVE[0]
    ids = gen.encode((text,), 1)
    assert ids == [gen.class_token_ids[1], *body_ids(gen, text), gen.eos_id]
    assert gen.encode((text,), 0)[0] == gen.class_token_ids[0]
    assert gen.sep_id not in ids


def test_encode_pair_layout(tiny_pair_generator):
    gen = tiny_pair_generator
    s1, s2 = POSITIVE[1], NEGATIVE[2]
    ids = gen.encode((s1, s2), 0)
    assert ids == [gen.class_token_ids[0], *body_ids(gen, s1), gen.sep_id, *body_ids(gen, s2), gen.eos_id]


def test_encode_cuts_each_text_to_max_length(tiny_pair_generator):
    gen = tiny_pair_generator
    gen.max_length = 3
    s1, s2 = POSITIVE[0], NEGATIVE[0]
    ids = gen.encode((s1, s2), 1)
    assert ids == [gen.class_token_ids[1], *body_ids(gen, s1)[:3], gen.sep_id, *body_ids(gen, s2)[:3], gen.eos_id]


def test_encode_many_equals_encode(tiny_generator, tiny_pair_generator):
    texts = [(s,) for s in POSITIVE[:3] + NEGATIVE[:3]]
    labels = [1, 1, 1, 0, 0, 0]
    assert tiny_generator.encode_many(texts, labels) == [tiny_generator.encode(t, y) for t, y in zip(texts, labels)]
    pairs = list(zip(POSITIVE[:4], NEGATIVE[:4]))
    assert tiny_pair_generator.encode_many(pairs, [0, 1, 0, 1]) == [
        tiny_pair_generator.encode(p, y) for p, y in zip(pairs, [0, 1, 0, 1])]


def test_encode_rejects_wrong_number_of_fields(tiny_generator, tiny_pair_generator):
    with pytest.raises(DilmError, match="1 text field"):
        tiny_generator.encode(("a", "b"), 0)
    with pytest.raises(DilmError, match="2 text field"):
        tiny_pair_generator.encode(("a",), 0)
    with pytest.raises(DilmError, match="2 text field"):
        tiny_pair_generator.encode_many([("a",)], [0])


# ---- parsing ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", POSITIVE + NEGATIVE)
def test_decode_round_trips_single_text(tiny_generator, text):
    assert tiny_generator.decode(tiny_generator.encode((text,), 1)) == (text,)


def test_decode_round_trips_pairs(tiny_pair_generator):
    gen = tiny_pair_generator
    for pair in zip(POSITIVE, NEGATIVE):
        assert gen.decode(gen.encode(pair, 0)) == pair


def test_decode_ignores_tokens_after_eos(tiny_generator):
    gen = tiny_generator
    seq = gen.encode((POSITIVE[0],), 1) + body_ids(gen, "junk") + [gen.pad_id, gen.pad_id]
    assert gen.decode(seq) == (POSITIVE[0],)


def test_pair_without_exactly_one_sep_decodes_to_none(tiny_pair_generator):
    gen = tiny_pair_generator
    c, sep, eos = gen.class_token_ids[0], gen.sep_id, gen.eos_id
    a, b = body_ids(gen, POSITIVE[0]), body_ids(gen, NEGATIVE[0])
    assert gen.decode([c, *a, *b, eos]) is None  # no <sep>
    assert gen.decode([c, *a, sep, *b, sep, *a, eos]) is None  # two <sep>
    assert gen.decode([c, *a, sep, *b, eos]) == (POSITIVE[0], NEGATIVE[0])
    # a <sep> after <eos> does not count
    assert gen.decode([c, *a, *b, eos, sep, *a]) is None


def test_empty_field_decodes_to_none(tiny_generator, tiny_pair_generator):
    assert tiny_generator.decode([tiny_generator.class_token_ids[0], tiny_generator.eos_id]) is None
    gen = tiny_pair_generator
    assert gen.decode([gen.class_token_ids[0], *body_ids(gen, "a"), gen.sep_id, gen.eos_id]) is None


# ---- masked scoring ---------------------------------------------------------------------------

def single_logprob(gen, seq: list[int], start: int = 1) -> torch.Tensor:
    """Hand computation on one unpadded sequence: sum_t log p(x_t | x_<t) for t >= start, the
    softmax taken over the tokens that can be targets (class tokens and a single task's <sep> out)."""
    ids = torch.tensor([seq])
    logits = gen.model(input_ids=ids).logits[0, :-1].double()  # (L-1, V)
    logits[:, gen.never_targets] = float("-inf")
    logp = torch.log_softmax(logits, -1)
    return logp[torch.arange(len(seq) - 1), ids[0, 1:]][start - 1:].sum()


def test_token_logprobs_ignore_padding(tiny_generator):
    gen = tiny_generator
    gen.model.eval()
    short = gen.encode((POSITIVE[6],), 1)  # 'beautiful and touching'
    long = gen.encode((NEGATIVE[3] + " and " + NEGATIVE[1],), 0)
    assert len(long) > len(short) + 5
    with torch.no_grad():
        alone, n_alone = gen.token_logprobs([short])
        padded, n_padded = gen.token_logprobs([short, long])
        reverse, _ = gen.token_logprobs([long, short])
    assert n_alone.tolist() == [len(short) - 1]
    assert n_padded.tolist() == [len(short) - 1, len(long) - 1]
    torch.testing.assert_close(padded[0], alone[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(reverse[1], alone[0], rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        by_hand = single_logprob(gen, short)
    torch.testing.assert_close(alone[0].double(), by_hand, rtol=1e-5, atol=1e-5)


def test_lm_loss_is_mean_of_per_sample_token_means(tiny_generator):
    gen = tiny_generator
    gen.model.eval()
    seqs = [gen.encode((s,), y) for s, y in [(POSITIVE[6], 1), (NEGATIVE[3], 0), (NEGATIVE[4] + " " + POSITIVE[0], 1)]]
    assert len({len(s) for s in seqs}) == 3
    with torch.no_grad():
        loss = gen.lm_loss(seqs)
        by_hand = torch.stack([-single_logprob(gen, s) / (len(s) - 1) for s in seqs]).mean()
        alone = gen.lm_loss([seqs[0]])
    torch.testing.assert_close(loss.double(), by_hand, rtol=1e-5, atol=1e-5)
    # the padded batch gives the short sample the same loss as on its own
    torch.testing.assert_close(alone.double(), -single_logprob(gen, seqs[0]) / (len(seqs[0]) - 1),
                               rtol=1e-5, atol=1e-5)
    # not a token-weighted mean: that would weight the long sample more
    total, count = gen.token_logprobs(seqs)
    token_mean = -(total.sum() / count.sum())
    assert abs(token_mean.item() - loss.item()) > 1e-4


def test_lm_loss_has_gradient(tiny_generator):
    gen = tiny_generator
    loss = gen.lm_loss([gen.encode((POSITIVE[0],), 1), gen.encode((NEGATIVE[0],), 0)])
    loss.backward()
    emb = gen.model.get_input_embeddings().weight
    assert emb.grad is not None and emb.grad[gen.class_token_ids[1]].abs().sum() > 0


# ---- persistence and sampling -----------------------------------------------------------------

def test_save_and_load_keep_token_layout_and_weights(tiny_pair_generator, tmp_path):
    from dilm.generator import META_FILE, load_generator

    gen = tiny_pair_generator
    gen.save(tmp_path / "gen", {"stage": "pretrain", "done": True})
    assert (tmp_path / "gen" / "model.safetensors").exists()
    loaded = load_generator(str(tmp_path / "gen"), num_classes=2, pair=True)
    assert loaded.class_token_ids == gen.class_token_ids and loaded.sep_id == gen.sep_id
    pair = (POSITIVE[0], NEGATIVE[0])
    assert loaded.encode(pair, 1) == gen.encode(pair, 1)
    for (name, p), q in zip(gen.model.state_dict().items(), loaded.model.state_dict().values()):
        assert torch.equal(p, q), name
    assert '"done": true' in (tmp_path / "gen" / META_FILE).read_text()
    with pytest.raises(DilmError, match="trained for 2 classes \\(pair=True\\)"):
        load_generator(str(tmp_path / "gen"), num_classes=2, pair=False)


def test_top_p_sample_draws_only_from_the_nucleus():
    from dilm.generator import top_p_sample

    torch.manual_seed(0)
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = probs.log().repeat(4000, 1)  # (B, V)
    # mass before token 2 is 0.8 >= 0.7: the nucleus is {0, 1}, renormalised to 5/8, 3/8
    for candidates in (512, 1):  # top-k shortcut and the full-sort fallback
        draws = top_p_sample(logits, 0.7, candidates=candidates)
        assert set(draws.tolist()) == {0, 1}
        assert abs((draws == 0).float().mean().item() - 5 / 8) < 0.03
    assert set(top_p_sample(logits, 1.0).tolist()) == {0, 1, 2, 3}
    assert set(top_p_sample(logits, 0.01).tolist()) == {0}


def test_token_logprobs_chunked_and_head_only_on_real_tokens_equal_full_logits(tiny_generator):
    """Length-sorted chunks + LM head on unpadded tokens give the full padded computation's values."""
    gen = tiny_generator
    seqs = [gen.encode((s,), i % 2) for i, s in enumerate(POSITIVE + NEGATIVE)]
    seqs[0] = seqs[0] + seqs[1][1:]  # unequal lengths
    ids, mask = gen.batch(seqs)
    logits = gen.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    logits[..., gen.never_targets] = float("-inf")
    logp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1) * mask[:, 1:]
    expected = logp.sum(-1)
    for micro in (0, 1, 3):
        total, count = gen.token_logprobs(seqs, micro_batch=micro)
        torch.testing.assert_close(total, expected, rtol=1e-5, atol=1e-5)
        assert count.tolist() == [len(s) - 1 for s in seqs]
    body, head = gen._body_and_head()
    assert body is not None and head is gen.model.get_output_embeddings()
