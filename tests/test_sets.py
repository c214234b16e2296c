"""Set files: validation with file and line, and the method/DPC a path implies."""

from __future__ import annotations

import json

import pytest

from dilm.data import DatasetSpec
from dilm.errors import DilmError
from dilm.sets import describe_set, expand_set_paths, read_set, read_sets

SPEC = DatasetSpec("tiny_sst", ("sentence",), ("negative", "positive"), label_field="y")


def write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_read_set_uses_label_not_the_datasets_label_field(tmp_path):
    path = write(tmp_path / "s.jsonl", [{"sentence": "good", "label": 1, "label_name": "positive"},
                                        {"sentence": "bad", "label": "negative"}])
    split = read_set(path, SPEC)
    assert split.texts == [("good",), ("bad",)] and split.labels == [1, 0]


@pytest.mark.parametrize("row, message", [
    ({"text": "good", "label": 1}, "line 2: missing field 'sentence'"),
    ({"sentence": "good", "label": 7}, "line 2: label 7 is outside"),
    ({"sentence": "good", "label": 1, "label_name": "negative"}, "line 2: label_name 'negative' does not match"),
])
def test_read_set_errors_name_file_and_line(tmp_path, row, message):
    path = write(tmp_path / "s.jsonl", [{"sentence": "ok", "label": 0}, row])
    with pytest.raises(DilmError, match=message) as err:
        read_set(path, SPEC)
    assert str(path) in str(err.value)


def test_describe_set_from_published_and_run_layouts(tmp_path):
    pub = tmp_path / "docs/results/sets/sst2/kcenters/dpc_10/set_3.jsonl"
    info = describe_set(pub)
    assert (info.method, info.dpc, info.dataset) == ("kcenters", 10, "sst2")
    run = tmp_path / "runs/demo/sets/dpc_5/set_0.jsonl"
    assert (describe_set(run).method, describe_set(run).dpc, describe_set(run).dataset) == ("dilm", 5, None)
    write(run.parent / "selection.json", [])
    (run.parent / "selection.json").write_text(json.dumps({"method": "herding_cls"}))
    assert describe_set(run).method == "herding_cls"
    assert describe_set(run, method="vanilla_lm", dpc=7).method == "vanilla_lm"
    assert describe_set(run, dpc=7).dpc == 7
    with pytest.raises(DilmError, match="give --dpc"):
        describe_set(tmp_path / "mine.jsonl")
    with pytest.raises(DilmError, match="give --method"):
        describe_set(tmp_path / "mine.jsonl", dpc=3)


def test_expand_set_paths_walks_folders(tmp_path):
    a = write(tmp_path / "sets/dpc_5/set_0.jsonl", [{"sentence": "x", "label": 0}])
    b = write(tmp_path / "sets/dpc_5/set_1.jsonl", [{"sentence": "x", "label": 0}])
    assert expand_set_paths([str(tmp_path / "sets"), str(a)]) == [a, b]
    with pytest.raises(DilmError, match="not found"):
        expand_set_paths([str(tmp_path / "nope.jsonl")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DilmError, match="no set_"):
        expand_set_paths([str(tmp_path / "empty")])


def test_read_sets_refuses_a_set_filed_under_another_dataset_before_reading_any(tmp_path):
    ok = write(tmp_path / "sets/tiny_sst/random/dpc_1/set_0.jsonl", [{"sentence": "fine", "label": 0}])
    other = write(tmp_path / "sets/mrpc/random/dpc_1/set_0.jsonl", [{"not": "even valid"}])
    got = read_sets([describe_set(ok)], SPEC)
    assert got[ok].texts == [("fine",)]
    with pytest.raises(DilmError, match="filed under dataset 'mrpc', but the evaluation dataset is 'tiny_sst'"):
        read_sets([describe_set(ok), describe_set(other)], SPEC)
