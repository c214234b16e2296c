"""Shared fixtures: tiny random models (2 layers, hidden 32) and a tiny dataset, built in code."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

from dilm.folder_lock import LOCK_NAME

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DILM_THREADS", "1")
# No test measures this CPU: `precision: auto` resolves from these fake rates (bf16, as before auto)
os.environ.setdefault("DILM_PRECISION_PROBE", "bf16=200,fp32=100")
torch.set_num_threads(1)  # tiny models: one thread is as fast and leaves a core free

# Fuzz tests (tests/test_fuzz_readers.py): a few hundred examples per reader by default; the long
# run is `pytest tests/test_fuzz_readers.py --hypothesis-profile long` (>= 10,000 per reader).
_FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=300, **_FUZZ)
settings.register_profile("long", max_examples=10_000, **_FUZZ)
settings.load_profile("ci")

POSITIVE = ["a great and moving film", "wonderful acting , lovely story", "i loved every minute of it",
            "funny , warm and smart", "the best movie of the year", "a delight from start to finish",
            "beautiful and touching", "brilliant direction and a sharp script"]
NEGATIVE = ["a dull and boring mess", "the plot makes no sense", "i hated the ending",
            "awful acting and a weak script", "the worst film in years", "tedious , flat and too long",
            "a waste of time", "ugly , loud and stupid"]


def _tokenizer(corpus: list[str]):
    """A small byte-level BPE tokenizer trained in memory, with an EOS token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<eos>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>")


@pytest.fixture(scope="session")
def tiny_generator_dir(tmp_path_factory) -> Path:
    """A 2-layer Llama causal LM (hidden 32) with its own tokenizer, saved as an HF folder."""
    from transformers import LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("tiny_generator")
    tokenizer = _tokenizer(POSITIVE + NEGATIVE)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                      bos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True)
    LlamaForCausalLM(cfg).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_learner_dir(tmp_path_factory) -> Path:
    """A 2-layer BERT encoder (hidden 32) with a WordPiece vocabulary, saved as an HF folder."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path = tmp_path_factory.mktemp("tiny_learner")
    words = sorted({w for s in POSITIVE + NEGATIVE for w in s.split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *[chr(c) for c in range(97, 123)]]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(path / "vocab.txt"))
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture()
def tiny_data_dir(tmp_path) -> Path:
    """A single-text dataset folder: 8 positive and 8 negative sentences (x2), with info.json."""
    folder = tmp_path / "tiny_sst"
    folder.mkdir()
    rows = [{"sentence": s, "label": 1} for s in POSITIVE] + [{"sentence": s, "label": 0} for s in NEGATIVE]
    write_jsonl(folder / "train.jsonl", rows * 2)
    write_jsonl(folder / "validation.jsonl", rows)
    (folder / "info.json").write_text(json.dumps({"text_fields": ["sentence"],
                                                  "label_names": ["negative", "positive"]}))
    return folder


@pytest.fixture()
def tiny_run_args(tiny_generator_dir, tiny_learner_dir, tiny_data_dir, tmp_path) -> list[str]:
    """Overrides for a complete `dilm run` in seconds on the tiny models."""
    return [
        f"data.dataset={tiny_data_dir}", f"model.generator={tiny_generator_dir}",
        f"model.learner={tiny_learner_dir}", f"out_dir={tmp_path / 'run'}", "precision=fp32",
        "model.max_length=16", "pretrain.steps=40", "pretrain.batch_size=8", "pretrain.lr=0.01", "pretrain.checkpoint_every=20",
        "distill.outer_loops=2", "distill.inner_steps=2", "distill.learner_steps=1", "distill.real_batch=4",
        "distill.syn_batch=3", "distill.resample_interval=2", "distill.num_teacher_sets=2",
        "distill.max_new_tokens=20", "distill.lr=1e-3", "generate.dpc=[2]", "generate.oversample=3",
        "generate.max_new_tokens=20", "generate.batch_size=8",
    ]


# ---- fixtures added for the test suite (the ones above are unchanged) -------------------------

PAIR_FIELDS = ["sentence1", "sentence2"]


@pytest.fixture()
def make_data_dir(tmp_path):
    """Factory: a dataset folder from a raw train file text (or rows), with info.json.

    `make_data_dir("bad", train='{"sentence": ...}\\n')` returns the folder; `train` may be a
    list of dicts (written as JSONL) or the exact text of train.jsonl.
    """

    def make(name: str, train: str | list[dict], text_fields=("sentence",),
             label_names=("negative", "positive")) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        if isinstance(train, str):
            (folder / "train.jsonl").write_text(train)
        else:
            write_jsonl(folder / "train.jsonl", train)
        (folder / "info.json").write_text(json.dumps({"text_fields": list(text_fields),
                                                      "label_names": list(label_names)}))
        return folder

    return make


def pair_rows() -> list[dict]:
    """MRPC-like rows: same-sentiment pairs are 'equivalent' (1), mixed pairs are not (0)."""
    rows = []
    for i in range(len(POSITIVE)):
        j = (i + 1) % len(POSITIVE)
        rows.append({"sentence1": POSITIVE[i], "sentence2": POSITIVE[j], "label": 1})
        rows.append({"sentence1": NEGATIVE[i], "sentence2": NEGATIVE[j], "label": 1})
        rows.append({"sentence1": POSITIVE[i], "sentence2": NEGATIVE[i], "label": 0})
        rows.append({"sentence1": NEGATIVE[j], "sentence2": POSITIVE[i], "label": 0})
    return rows


@pytest.fixture()
def pair_data_dir(tmp_path) -> Path:
    """A pair-task dataset folder (sentence1/sentence2, like MRPC): 16 rows per class."""
    folder = tmp_path / "tiny_mrpc"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", pair_rows())
    (folder / "info.json").write_text(json.dumps({"text_fields": PAIR_FIELDS,
                                                  "label_names": ["not_equivalent", "equivalent"]}))
    return folder


@pytest.fixture()
def tiny_generator(tiny_generator_dir):
    """A fresh single-text Generator (2 classes) on the tiny Llama, float32, CPU."""
    from dilm.generator import load_generator

    return load_generator(str(tiny_generator_dir), num_classes=2, pair=False, max_length=64)


@pytest.fixture()
def tiny_pair_generator(tiny_generator_dir):
    """A fresh pair-task Generator (2 classes) on the tiny Llama."""
    from dilm.generator import load_generator

    return load_generator(str(tiny_generator_dir), num_classes=2, pair=True, max_length=64)


@pytest.fixture()
def tiny_learner(tiny_learner_dir):
    """A fresh Learner (tiny BERT + 2-way head), fp32 so no autocast."""
    from dilm.learner import load_learner

    return load_learner(str(tiny_learner_dir), num_labels=2, max_length=16, precision="fp32")


@pytest.fixture(scope="session")
def pretrained_generator_dir(tiny_generator_dir, tmp_path_factory) -> Path:
    """The tiny generator after a short step-1 pre-training on the sentiment rows (samples end in EOS)."""
    from dilm.config import load_config
    from dilm.data import Dataset, DatasetSpec, Split
    from dilm.generator import load_generator
    from dilm.pretrain import pretrain
    from dilm.runtime import seed_everything

    out = tmp_path_factory.mktemp("pretrained") / "generator"
    cfg = load_config(None, ["precision=fp32", "pretrain.steps=40", "pretrain.batch_size=8",
                             "pretrain.lr=0.01", "pretrain.checkpoint_every=0"])
    spec = DatasetSpec("tiny_sst", ("sentence",), ("negative", "positive"))
    train = Split([(s,) for s in NEGATIVE + POSITIVE], [0] * len(NEGATIVE) + [1] * len(POSITIVE))
    seed_everything(0)
    gen = load_generator(str(tiny_generator_dir), 2, pair=False, max_length=16)
    pretrain(cfg, Dataset(spec, train, None), gen, out, out.parent / "ckpt")
    return out


def fails(argv: list[str], capsys) -> str:
    """Run the CLI, expect exit code 2 and exactly one error line; return that line."""
    from dilm.cli import main

    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"dilm {argv[0]}: error: ")
    return lines[0]


def snapshot(folder) -> dict[str, bytes]:
    """Every file under `folder` and its bytes: compare two to prove nothing changed. The lock a command
    holds while it uses the folder (`.dilm.lock`, naming its pid and start time) is not an output."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != LOCK_NAME}


def count_calls(monkeypatch, module, **names: str) -> dict[str, int]:
    """Wrap `module.<attr>` for each `key=attr` so calls are counted in the returned dict."""
    calls = {key: 0 for key in names}
    for key, attr in names.items():
        original = getattr(module, attr)

        def counting(*a, _key=key, _original=original, **k):
            calls[_key] += 1
            return _original(*a, **k)

        monkeypatch.setattr(module, attr, counting)
    return calls
