"""Learner: reset restores the pre-trained encoder exactly and redraws the head; features; training."""

from __future__ import annotations

import pytest
import torch
from conftest import NEGATIVE, POSITIVE

from dilm.learner import TrainConfig, length_check, length_warning, output_layer, train_learner

TEXTS = [(s,) for s in NEGATIVE + POSITIVE]
LABELS = [0] * len(NEGATIVE) + [1] * len(POSITIVE)
HEAD = ("classifier.weight", "classifier.bias")


def snapshot(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train_a_little(learner) -> None:
    train_learner(learner, TEXTS, LABELS, TrainConfig(steps=3, lr=1e-2, warmup_ratio=0.0, batch_size=8), seed=0)


def test_head_is_the_classifier_layer(tiny_learner):
    assert tiny_learner.head is tiny_learner.model.classifier
    assert output_layer(tiny_learner.model, 2) is tiny_learner.model.classifier


def test_reset_restores_pretrained_encoder_exactly(tiny_learner):
    pretrained = snapshot(tiny_learner.model)  # independent copy taken at load time
    train_a_little(tiny_learner)
    trained = snapshot(tiny_learner.model)
    changed = [k for k in pretrained if not torch.equal(pretrained[k], trained[k]) and k not in HEAD]
    assert any("encoder.layer" in k for k in changed), "training should change the encoder"

    tiny_learner.reset(seed=0)
    after = snapshot(tiny_learner.model)
    assert after.keys() == pretrained.keys()
    for key, value in pretrained.items():
        if key not in HEAD:
            assert torch.equal(after[key], value), f"{key} not restored"
    # the head is redrawn, not the trained one
    assert not torch.equal(after["classifier.weight"], trained["classifier.weight"])
    assert torch.count_nonzero(after["classifier.bias"]) == 0


def test_reset_twice_after_more_training_is_still_exact(tiny_learner):
    """The saved state must not alias the live weights (the official DiLM reset bug)."""
    pretrained = snapshot(tiny_learner.model)
    for seed in (0, 1):
        train_a_little(tiny_learner)
        tiny_learner.reset(seed)
        after = snapshot(tiny_learner.model)
        assert all(torch.equal(after[k], v) for k, v in pretrained.items() if k not in HEAD)


def test_reset_head_depends_on_seed_only(tiny_learner):
    tiny_learner.reset(seed=7)
    first = tiny_learner.head.weight.detach().clone()
    train_a_little(tiny_learner)
    tiny_learner.reset(seed=7)
    assert torch.equal(tiny_learner.head.weight, first)
    tiny_learner.reset(seed=8)
    other = tiny_learner.head.weight.detach().clone()
    assert not torch.equal(other, first)
    # drawn with the model's initializer_range (0.02 for BERT), not left at zero
    assert 0.005 < first.std().item() < 0.05 and 0.005 < other.std().item() < 0.05


def test_train_learner_updates_encoder_and_head(tiny_learner):
    """The training loop updates every learner weight, including the head."""
    before = snapshot(tiny_learner.model)
    train_a_little(tiny_learner)
    after = snapshot(tiny_learner.model)
    assert not torch.equal(before["classifier.weight"], after["classifier.weight"])
    assert not torch.equal(before["bert.embeddings.word_embeddings.weight"],
                           after["bert.embeddings.word_embeddings.weight"])


def test_head_inputs_are_classifier_inputs(tiny_learner):
    """head_inputs(x) fed to the head gives the model's eval-mode logits."""
    feats = tiny_learner.head_inputs(TEXTS[:5])
    assert feats.shape == (5, 32) and feats.dtype == torch.float32
    tiny_learner.model.eval()
    with torch.no_grad():
        logits = tiny_learner.model(**tiny_learner.tokenize(TEXTS[:5])).logits
        torch.testing.assert_close(tiny_learner.head(feats), logits)


def test_head_inputs_keep_training_mode(tiny_learner):
    tiny_learner.model.train()
    tiny_learner.head_inputs(TEXTS[:2])
    tiny_learner.embed(TEXTS[:2])
    assert tiny_learner.model.training


def test_embed_mean_and_cls_pooling(tiny_learner):
    texts = TEXTS[:3]
    mean = tiny_learner.embed(texts, "mean")
    cls = tiny_learner.embed(texts, "cls")
    enc = tiny_learner.tokenize(texts)
    tiny_learner.model.eval()
    with torch.no_grad():
        hidden = tiny_learner.model.base_model(**enc).last_hidden_state  # (B, L, H)
    mask = enc["attention_mask"].unsqueeze(-1).float()
    torch.testing.assert_close(mean, (hidden * mask).sum(1) / mask.sum(1))
    torch.testing.assert_close(cls, hidden[:, 0])
    # padding does not change an embedding: the shortest text alone gives the same mean
    shortest = min(range(3), key=lambda i: enc["attention_mask"][i].sum())
    torch.testing.assert_close(tiny_learner.embed([texts[shortest]], "mean")[0], mean[shortest],
                               rtol=1e-5, atol=1e-5)


def test_features_come_back_in_input_order_whatever_the_batching(tiny_learner):
    texts = [TEXTS[9], TEXTS[0], TEXTS[14], TEXTS[3], TEXTS[7]]  # mixed lengths
    one_by_one = torch.cat([tiny_learner.head_inputs([t]) for t in texts])
    torch.testing.assert_close(tiny_learner.head_inputs(texts, batch_size=2), one_by_one, rtol=1e-5, atol=1e-5)
    alone = torch.cat([tiny_learner.embed([t]) for t in texts])
    torch.testing.assert_close(tiny_learner.embed(texts, batch_size=2), alone, rtol=1e-5, atol=1e-5)
    assert tiny_learner.predict(texts, batch_size=2) == tiny_learner.head(one_by_one).argmax(-1).tolist()


def grads(model) -> dict[str, torch.Tensor]:
    return {k: p.grad.detach().clone() for k, p in model.named_parameters() if p.grad is not None}


def test_micro_batched_backward_equals_one_padded_batch(tiny_learner):
    """Length-sorted chunks give the padded batch's mean loss and gradient (dropout off, fp32)."""
    model = tiny_learner.model
    model.eval()
    texts = TEXTS + [("good " * 9 + "film",), ("bad",)]  # very unequal lengths: real padding savings
    labels = LABELS + [1, 0]
    model.zero_grad(set_to_none=True)
    whole = tiny_learner.backward(texts, labels, micro_batch=0)
    g_whole = grads(model)
    model.zero_grad(set_to_none=True)
    chunked = tiny_learner.backward(texts, labels, micro_batch=3)
    g_chunked = grads(model)
    expected = tiny_learner.loss(texts, labels).item()
    assert abs(whole - expected) < 1e-6 and abs(chunked - expected) < 1e-5
    assert g_whole.keys() == g_chunked.keys() and g_whole
    for key in g_whole:
        torch.testing.assert_close(g_chunked[key], g_whole[key], rtol=1e-4, atol=1e-6)


def test_a_decoder_lm_works_as_learner_with_a_last_token_head(tiny_generator_dir):
    """Cross-model evaluation with a causal LM (like the paper's XLNet): a last-token linear head."""
    from dilm.learner import load_learner

    learner = load_learner(str(tiny_generator_dir), num_labels=2, max_length=16, precision="fp32")
    assert type(learner.model).__name__ == "LlamaForSequenceClassification"
    assert learner.head is learner.model.score and learner.model.config.pad_token_id is not None
    before = snapshot(learner.model)
    learner.reset(seed=0)
    train_learner(learner, TEXTS, LABELS, TrainConfig(steps=2, lr=1e-2, warmup_ratio=0.0, batch_size=8), seed=0)
    after = snapshot(learner.model)
    assert not torch.equal(before["score.weight"], after["score.weight"])
    assert len(learner.predict(TEXTS)) == len(TEXTS)


class WordTokenizer:
    """One token per word plus [CLS]/[SEP]-like ends: a length counter with a tokenizer's call shape."""

    def __call__(self, first, second=None, truncation=False):
        assert truncation is False
        pairs = zip(first, second) if second is not None else ((t,) for t in first)
        return {"input_ids": [[0] * (sum(len(t.split()) for t in p) + 1 + len(p)) for p in pairs]}


def test_length_check_counts_texts_past_max_length():
    texts = [(" ".join(["w"] * n),) for n in range(1, 101)]  # 1..100 words -> 3..102 tokens
    share, p99 = length_check(WordTokenizer(), texts, max_length=92)
    assert share == pytest.approx(0.10)  # 93..102 tokens: 10 of 100
    assert p99 == 102  # sorted lengths[99]
    assert "10% of the training texts" in length_warning(WordTokenizer(), texts, 92)
    assert "consider model.max_length=128" in length_warning(WordTokenizer(), texts, 92)  # 102 -> next 32
    assert length_warning(WordTokenizer(), texts, 101) is None  # 1 text (1%) cut: not more than 1%
    pairs = [("a b", "c")] * 3
    assert length_check(WordTokenizer(), pairs, max_length=5) == (1.0, 6)  # 3 words + 3 specials
