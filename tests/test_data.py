"""Dataset specs and loading: local folders, validation with file and line numbers."""

from __future__ import annotations

import json

import pytest
from conftest import NEGATIVE, POSITIVE

from dilm.config import DataConfig
from dilm.data import DATASETS, Split, load_dataset, resolve_spec
from dilm.errors import DilmError

ROWS = [{"sentence": s, "label": 1} for s in POSITIVE[:3]] + [{"sentence": s, "label": 0} for s in NEGATIVE[:3]]


def load(folder, **kwargs):
    return load_dataset(DataConfig(dataset=str(folder), **kwargs))


def test_tiny_folder_loads(tiny_data_dir):
    ds = load(tiny_data_dir)
    assert ds.spec.name == "tiny_sst" and ds.spec.text_fields == ("sentence",) and not ds.spec.is_pair
    assert len(ds.train) == 32 and len(ds.validation) == 16
    assert ds.train.texts[0] == (POSITIVE[0],) and ds.train.labels[0] == 1
    assert [len(g) for g in ds.train.by_class(2)] == [16, 16]


def test_pair_folder_loads(pair_data_dir):
    ds = load(pair_data_dir)
    assert ds.spec.is_pair and ds.spec.text_fields == ("sentence1", "sentence2")
    assert ds.validation is None
    assert all(len(t) == 2 for t in ds.train.texts)


def test_label_names_as_labels_and_numeric_strings(make_data_dir):
    folder = make_data_dir("names", [{"sentence": "a", "label": "positive"}, {"sentence": "b", "label": "0"},
                                     {"sentence": "c", "label": 1.0}])
    assert load(folder).train.labels == [1, 0, 1]


def test_csv_and_tsv(tmp_path):
    for ext, sep in ((".csv", ","), (".tsv", "\t")):
        folder = tmp_path / ext[1:]
        folder.mkdir()
        (folder / f"train{ext}").write_text(f"sentence{sep}label\nnice film{sep}1\nbad film{sep}0\n")
        ds = load(folder, text_fields=["sentence"], label_names=["neg", "pos"])
        assert ds.train.texts == [("nice film",), ("bad film",)] and ds.train.labels == [1, 0]


def test_config_fields_override_info_json(make_data_dir):
    folder = make_data_dir("renamed", [{"review": "fine", "y": 0}, {"review": "great", "y": 1}])
    ds = load(folder, text_fields=["review"], label_field="y", label_names=["bad", "good"])
    assert ds.spec.text_fields == ("review",) and ds.spec.label_names == ("bad", "good")
    assert ds.train.texts == [("fine",), ("great",)]


def test_max_train_examples_is_a_seeded_subsample(tiny_data_dir):
    a = load_dataset(DataConfig(dataset=str(tiny_data_dir), max_train_examples=10), seed=0)
    b = load_dataset(DataConfig(dataset=str(tiny_data_dir), max_train_examples=10), seed=0)
    c = load_dataset(DataConfig(dataset=str(tiny_data_dir), max_train_examples=10), seed=1)
    assert len(a.train) == 10 and a.train == b.train and a.train != c.train


def test_holdout_min_words_carves_only_long_rows(make_data_dir):
    """A whole-sentence carve-out: the held rows are drawn from rows of >= N words (pairs: both texts
    counted), the rest of train keeps everything else, and too few long rows is an error naming them."""
    rows = [{"sentence": " ".join(["w"] * n) + f" {i}", "label": i % 2} for i, n in enumerate([1, 2, 5, 6, 9, 1, 7, 3])]
    folder = make_data_dir("lengths", rows)
    full = load(folder)
    ds = load(folder, holdout=3, holdout_min_words=6)
    assert len(ds.validation) == 3 and all(len(t[0].split()) >= 6 for t in ds.validation.texts)
    assert sorted(ds.train.texts + ds.validation.texts) == sorted(full.train.texts)  # a partition of train
    assert {t for t in full.train.texts if len(t[0].split()) < 6} <= set(ds.train.texts)
    assert load(folder, holdout=3).validation == load(folder, holdout=3, holdout_min_words=0).validation
    assert len(load(folder, holdout=4, holdout_min_words=6).validation) == 4  # all 4 rows of >= 6 words
    with pytest.raises(DilmError, match=r"data.holdout=5 .* the 4 training rows of >= 6 words"):
        load(folder, holdout=5, holdout_min_words=6)
    with pytest.raises(DilmError, match=r"holdout_min_words=6 needs data.holdout > 0"):
        load(folder, holdout_min_words=6)
    with pytest.raises(DilmError, match=r"holdout_min_words=-1 must be >= 0"):
        load(folder, holdout=2, holdout_min_words=-1)


def test_by_class():
    assert Split([("a",), ("b",), ("c",)], [1, 0, 1]).by_class(3) == [[1], [0, 2], []]


def test_builtin_specs():
    assert DATASETS["mrpc"].text_fields == ("sentence1", "sentence2") and DATASETS["mrpc"].is_pair
    assert DATASETS["ag_news"].num_classes == 4
    with pytest.raises(DilmError, match="unknown dataset 'sst' \\(did you mean 'sst2'\\?\\)"):
        resolve_spec(DataConfig(dataset="sst"))
    with pytest.raises(DilmError, match="dataset folder not found"):
        resolve_spec(DataConfig(dataset="no/such/folder"))


@pytest.mark.parametrize("train, message", [
    ("", "data file is empty"),
    ("\n  \n", "data file is empty"),
    (json.dumps(ROWS[0]) + "\n{\"sentence\": \"x\", \"label\": \n", "train.jsonl, line 2: malformed JSON"),
    (json.dumps(ROWS[0]) + "\n[1, 2]\n", "train.jsonl, line 2: expected a JSON object, got list"),
    ("".join(json.dumps(r) + "\n" for r in ROWS[:2]) + json.dumps({"text": "x", "label": 0}) + "\n",
     "train.jsonl, line 3: missing field 'sentence'"),
    (json.dumps({"sentence": "x"}) + "\n", "train.jsonl, line 1: missing field 'label'"),
    ("".join(json.dumps(r) + "\n" for r in ROWS) + json.dumps({"sentence": "x", "label": 2}) + "\n",
     "train.jsonl, line 7: label 2 is outside the label names ['negative', 'positive']"),
    (json.dumps({"sentence": "x", "label": -1}) + "\n", "label -1 is outside the label names"),
    (json.dumps({"sentence": "x", "label": "neutral"}) + "\n",
     "line 1: label 'neutral' is not an integer or one of the label names"),
    (json.dumps({"sentence": "x", "label": 0.5}) + "\n", "label 0.5 is not an integer"),
    ("".join(json.dumps(r) + "\n" for r in ROWS[:3]), "class 0 ('negative') has no training rows"),
])
def test_bad_data_is_reported_with_file_and_line(make_data_dir, train, message):
    folder = make_data_dir("bad", train)
    with pytest.raises(DilmError) as err:
        load(folder)
    assert message in str(err.value)
    if "line" in message:
        assert str(folder / "train.jsonl") in str(err.value)


def test_blank_lines_keep_line_numbers(make_data_dir):
    train = json.dumps(ROWS[0]) + "\n\n" + json.dumps({"text": "x", "label": 0}) + "\n"
    with pytest.raises(DilmError, match="line 3: missing field 'sentence'"):
        load(make_data_dir("blank", train))


def test_missing_field_suggests_a_close_name(make_data_dir):
    with pytest.raises(DilmError, match="missing field 'sentence' \\(did you mean 'sentences'\\?\\)"):
        load(make_data_dir("typo", [{"sentences": "x", "label": 0}]))


def test_folder_without_train_file_or_fields(tmp_path, make_data_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DilmError, match="give the text field"):
        load(empty)
    with pytest.raises(DilmError, match="no train file in"):
        load(empty, text_fields=["sentence"], label_names=["a", "b"])
    with pytest.raises(DilmError, match="at least 2 label names"):
        load(make_data_dir("one", ROWS, label_names=["only"]))


def test_csv_row_with_missing_column(tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "train.csv").write_text("sentence,label\nok,1\nbroken\n")
    with pytest.raises(DilmError, match="train.csv, line 3: row has a different number of columns"):
        load(folder, text_fields=["sentence"], label_names=["a", "b"])


def test_boolean_label_is_rejected(make_data_dir):
    from dilm.config import DataConfig
    from dilm.data import load_dataset
    from dilm.errors import DilmError

    rows = [{"sentence": "fine", "label": 0}, {"sentence": "great", "label": True}]
    folder = make_data_dir("bool_label", rows)
    with pytest.raises(DilmError, match=r"line 2: label True is not an integer"):
        load_dataset(DataConfig(dataset=str(folder), text_fields=["sentence"], label_names=["neg", "pos"]))
