"""Issue 16's bad-input table: each row gives what a user expects (one line naming file/line/field, exit 2;
or, for a BOM and for overrides after a list option, it just works)."""

from __future__ import annotations

import json

import pytest
from conftest import NEGATIVE, POSITIVE, fails

from dilm.cli import main

ROWS = [{"sentence": s, "label": 1} for s in POSITIVE] + [{"sentence": s, "label": 0} for s in NEGATIVE]
GOOD = "".join(json.dumps(r) + "\n" for r in ROWS)
LINE = len(ROWS) + 1  # the bad row's line


def validate(args: list[str], folder, *extra: str) -> list[str]:
    return ["validate", *[a for a in args if not a.startswith("data.dataset=")], f"data.dataset={folder}", *extra]


@pytest.mark.parametrize("value, what", [(None, "is null, not a text"), ("", "is empty"),
                                         ("   ", "is only white space")])
def test_null_empty_or_blank_text_names_file_line_and_field(tiny_run_args, make_data_dir, capsys, value, what):
    folder = make_data_dir("blank", GOOD + json.dumps({"sentence": value, "label": 1}) + "\n")
    line = fails(validate(tiny_run_args, folder), capsys)
    assert f"{folder / 'train.jsonl'}, line {LINE}: field 'sentence' {what}" in line


def test_info_json_that_is_not_json_names_file_line_and_column(tiny_run_args, make_data_dir, capsys):
    folder = make_data_dir("badinfo", GOOD)
    (folder / "info.json").write_text('{"text_fields": ["sentence"],\n "label_names": ["neg" "pos"]}\n')
    line = fails(validate(tiny_run_args, folder), capsys)
    assert f"{folder / 'info.json'}: info.json is not valid: malformed JSON (Expecting ',' delimiter" \
           ": line 2, column 24)" in line


@pytest.mark.parametrize("info, message", [
    ({"text_fields": "sentence", "label_names": ["a", "b"]}, "'text_fields' must be a list of names"),
    ({"text_fields": ["sentence"], "label_names": ["neg", "neg"]}, "'neg' appears twice in the label names"),
    (["sentence"], "expected a JSON object"),
])
def test_info_json_of_the_wrong_shape(tiny_run_args, make_data_dir, capsys, info, message):
    folder = make_data_dir("shape", GOOD)
    (folder / "info.json").write_text(json.dumps(info))
    assert message in fails(validate(tiny_run_args, folder), capsys)


@pytest.mark.parametrize("name", ["train.jsonl", "train.csv"])
def test_a_file_with_a_utf8_byte_order_mark_is_read(tiny_run_args, tmp_path, capsys, name):
    folder = tmp_path / "bom"
    folder.mkdir()
    text = GOOD if name.endswith("jsonl") else "sentence,label\n" + "".join(
        f'"{r["sentence"]}",{r["label"]}\n' for r in ROWS)
    (folder / name).write_bytes(b"\xef\xbb\xbf" + text.encode())
    (folder / "info.json").write_text(json.dumps({"text_fields": ["sentence"], "label_names": ["n", "p"]}))
    assert main(validate(tiny_run_args, folder)) == 0
    assert f"dataset bom ({folder}): {len(ROWS)} train rows, per class [8, 8]" in capsys.readouterr().out


def test_a_latin1_file_names_the_line_and_how_to_convert_it(tiny_run_args, make_data_dir, capsys):
    folder = make_data_dir("latin1", GOOD)
    with open(folder / "train.jsonl", "ab") as f:
        f.write('{"sentence": "un café", "label": 1}\n'.encode("latin-1"))
    line = fails(validate(tiny_run_args, folder), capsys)
    path = folder / "train.jsonl"
    assert f"{path}, line {LINE}: the file is not UTF-8 (byte 0xe9)" in line
    assert f"iconv -f latin1 -t utf-8 {path}" in line


def test_an_override_after_label_names_is_an_override(tiny_run_args, make_data_dir, capsys):
    folder = make_data_dir("names", GOOD)
    args = validate(tiny_run_args, folder, "--text-fields", "sentence", "--label-names", "neg", "pos")
    assert main([*args, "distill.real_batch=1"]) == 0  # not a third label name
    # and it is applied: a teacher size larger than a class is refused
    line = fails([*args, "distill.real_batch=17"], capsys)
    assert "fewer than the teacher size distill.real_batch=17" in line


def test_overrides_may_follow_every_list_option(tiny_data_dir, tmp_path, capsys):
    sets = tmp_path / "sets"
    assert main(["coreset", "--method", "random", "--dataset", str(tiny_data_dir), "--sets-dir", str(sets),
                 "--dpc", "2", "3", "seed=4", "precision=fp32", "--text-fields", "sentence", "generate.top_p=0.5",
                 "--label-names", "neg", "pos", "data.holdout=2"]) == 0
    selection = json.loads((sets / "dpc_3" / "selection.json").read_text())
    assert selection["seed"] == 4 and sorted(p.name for p in sets.iterdir()) == ["dpc_2", "dpc_3"]
    config = (sets / "dpc_2" / "config.yaml").read_text()
    assert "precision: fp32" in config and "top_p: 0.5" in config and "holdout: 2" in config
    assert "- neg" in config  # the label names are neg, pos: no override slipped into them
    assert "must be int" not in capsys.readouterr().err


def test_a_list_option_needs_a_value_before_the_overrides(tiny_data_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["coreset", "--method", "random", "--dataset", str(tiny_data_dir), "--dpc", "seed=1"])
    assert e.value.code == 2
    assert "--dpc: expected at least one value before 'seed=1'" in capsys.readouterr().err


def test_a_set_path_holding_an_equals_sign_is_a_path(tiny_run_args, tiny_data_dir, tmp_path, monkeypatch, capsys):
    """`key=value` words are overrides, unless such a file or folder exists: then it is a set path."""
    monkeypatch.chdir(tmp_path)
    sets = tmp_path / "a=b"
    assert main(["coreset", "--method", "random", "--dataset", str(tiny_data_dir), "--sets-dir", str(sets),
                 "--dpc", "2"]) == 0
    learner = next(a for a in tiny_run_args if a.startswith("model.learner="))
    capsys.readouterr()
    assert main(["evaluate", "a=b", learner, f"data.dataset={tiny_data_dir}", "precision=fp32",
                 "model.max_length=16", "--steps", "1", "--store", str(tmp_path / "r.sqlite")]) == 0
    assert "1 new runs stored" in capsys.readouterr().out
