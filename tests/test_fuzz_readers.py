"""Fuzzing the readers: whatever a data file, info.json, set file or override holds, reading it ends
in rows that are all valid and exactly what the file says, or in a one-line DilmError naming the
file (and the line, for a row). Never another exception.

Inputs are valid documents run through mutations: truncation, random bytes, another encoding
(Latin-1, UTF-16, a BOM), duplicate keys, NaN/Infinity, huge numbers, wrong types, control
characters and very long lines. `--hypothesis-profile long` runs >= 10,000 examples per reader
(profiles: tests/conftest.py).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import tempfile
from pathlib import Path

from hypothesis import event, given
from hypothesis import strategies as st

from dilm.config import load_config
from dilm.data import DatasetSpec, parse_rows, resolve_spec
from dilm.errors import DilmError
from dilm.readers import read_rows
from dilm.sets import read_set

NAMES = ("neg", "pos")
SPEC = DatasetSpec("fuzz", ("sentence",), NAMES)
ROW_ERROR = re.compile(r", line \d+: ")
FILE_ERRORS = ("data file is empty", "data file has no rows", "is UTF-16, not UTF-8")

scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=10**18, max_value=10**40)
           | st.floats() | st.text(max_size=8))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)
odd_texts = (st.text(max_size=30)  # any code point: control characters, lone surrogates, separators
             | st.sampled_from(["", " ", "\t\n", "\u2028", "a,b\"c", "x\ty", "\x00"])
             | st.integers(min_value=1000, max_value=50_000).map(lambda n: "long " * n))
plain_texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(str.strip)
odd_labels = (st.sampled_from(["1", " 0 ", "1.0", "01", "\u0661", "maybe", True, 1.5, 1.0, -1, 2])
              | st.floats() | json_values)


def mostly(good, odd):
    """`good` 4 times in 5, else `odd`: most files are valid, so that accepting is tested too."""
    return st.integers(0, 4).flatmap(lambda i: odd if i == 0 else good)


texts = mostly(plain_texts, odd_texts | json_values)
labels = mostly(st.sampled_from([0, 1, *NAMES]), odd_labels)


def expected_label(raw) -> int | None:
    """The label a file's value means (the rule docs/errors.md states), None when it must be refused."""
    if isinstance(raw, str) and raw in NAMES:
        return NAMES.index(raw)
    if isinstance(raw, bool):
        return None
    if isinstance(raw, float) and math.isfinite(raw) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, str) and re.fullmatch(r"\s*-?[0-9]{1,18}\s*", raw):
        raw = int(raw)
    return raw if isinstance(raw, int) and 0 <= raw < len(NAMES) else None


def valid_text(value) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """`data` unchanged (half the time) or run through one to three byte-level mutations."""
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3]))):
        kind = draw(st.sampled_from(["truncate", "insert", "bom", "utf16", "latin1", "crlf", "nul"]))
        at = draw(st.integers(0, len(data)))
        if kind == "truncate":
            data = data[:at]
        elif kind == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=6)) + data[at:]
        elif kind == "bom":
            data = b"\xef\xbb\xbf" + data
        elif kind == "utf16":
            data = data.decode("utf-8", "replace").encode("utf-16")
        elif kind == "latin1":
            data = data[:at] + "caf\u00e9".encode("latin-1") + data[at:]
        elif kind == "crlf":
            data = data.replace(b"\n", b"\r\n")
        else:
            data = data[:at] + b"\x00" + data[at:]
    return data


def json_line(draw, row: dict) -> str:
    """A row as one JSON line: NaN/Infinity allowed through, sometimes a duplicate key."""
    line = json.dumps(row, allow_nan=True, ensure_ascii=draw(st.booleans()))
    if row and draw(st.integers(0, 29)) == 0:
        key = draw(st.sampled_from(sorted(row)))
        line = "{" + json.dumps(key) + ": " + json.dumps(row[key], allow_nan=True) + ", " + line[1:]
    return line


@st.composite
def jsonl_files(draw) -> bytes:
    rows = draw(st.lists(st.fixed_dictionaries({"sentence": texts, "label": labels},
                                               optional={"extra": json_values}), min_size=0, max_size=6))
    lines = [json_line(draw, r) for r in rows]
    junk = st.sampled_from(["", "   ", "[1, 2]", "{", '{"sentence": "x"}', "NaN"])
    lines += draw(st.lists(mostly(st.just(""), junk), max_size=2))
    order = draw(st.permutations(range(len(lines))))
    text = "\n".join(lines[i] for i in order)
    return draw(mutated(text.encode("utf-8", "surrogatepass")))


@st.composite
def table_files(draw, delimiter: str) -> bytes:
    header = draw(mostly(st.sampled_from([["sentence", "label"], ["label", "sentence", "x"]]),
                         st.sampled_from([["sentence", "sentence", "label"], ["sentence"], ["text", "label"], []])))
    cell = {"sentence": texts.map(str), "label": labels.map(str)}
    rows = draw(st.lists(st.tuples(*[cell.get(name, texts.map(str)) for name in header]).map(list), max_size=6))
    if rows and draw(st.integers(0, 9)) == 0:  # a ragged row
        rows[0] = rows[0] + ["extra"] if draw(st.booleans()) else rows[0][:-1]
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter).writerows([header, *rows])
    return draw(mutated(buffer.getvalue().encode("utf-8", "surrogatepass")))


def check_error(e: DilmError, path: Path) -> str:
    message = str(e)
    event(f"refused: {re.sub(r'[0-9]+', 'N', message.replace(str(path), 'FILE'))[:50]}")
    assert len(message.splitlines()) == 1 and "\n" not in message, message
    assert str(path) in message, message
    return message


def check_data_file(data: bytes, suffix: str) -> None:
    """Read `data` as train<suffix>: valid unaltered rows, or one DilmError line naming the file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"train{suffix}"
        path.write_bytes(data)
        try:
            rows = read_rows(path)
            split = parse_rows(rows, SPEC, str(path))
        except DilmError as e:
            message = check_error(e, path)
            assert ROW_ERROR.search(message) or any(m in message for m in FILE_ERRORS), message
            return
    event(f"accepted: {len(split)} rows")
    text = data.decode("utf-8-sig")
    if suffix == ".jsonl":
        lines = text.split("\n")
        reference = [json.loads(lines[n - 1]) for n, _ in rows]
    else:
        records = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=_DELIMITERS[suffix]) if r]
        reference = [dict(zip(records[0], r)) for r in records[1:]]
    assert len(reference) == len(split)
    for ref, text_fields, label in zip(reference, split.texts, split.labels):
        assert text_fields == (ref["sentence"],) and valid_text(ref["sentence"])  # exactly as written
        assert label == expected_label(ref["label"]) is not None


_DELIMITERS = {".csv": ",", ".tsv": "\t"}


@given(jsonl_files())
def test_jsonl_reader(data):
    check_data_file(data, ".jsonl")


@given(table_files(","))
def test_csv_reader(data):
    check_data_file(data, ".csv")


@given(table_files("\t"))
def test_tsv_reader(data):
    check_data_file(data, ".tsv")


@st.composite
def info_files(draw) -> bytes:
    names = st.lists(mostly(st.text(max_size=6), json_values), max_size=4)
    info = draw(mostly(st.fixed_dictionaries({"text_fields": names, "label_names": names},
                                             optional={"task": json_values}),
                       st.fixed_dictionaries({}, optional={"text_fields": names | json_values,
                                                           "label_names": names | json_values}) | json_values))
    return draw(mutated(json.dumps(info, allow_nan=True).encode("utf-8", "surrogatepass")))


@given(info_files())
def test_info_json_reader(data):
    from dilm.config import DataConfig

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "info.json").write_bytes(data)
        try:
            spec, _ = resolve_spec(DataConfig(dataset=tmp))
        except DilmError as e:
            check_error(e, Path(tmp))
            return
    info = json.loads(data.decode("utf-8-sig"))
    assert spec.text_fields == tuple(info["text_fields"]) and spec.label_names == tuple(info["label_names"])
    for names, least in ((spec.text_fields, 1), (spec.label_names, 2)):
        assert len(names) >= least and len(set(names)) == len(names) and all(valid_text(n) for n in names)


@st.composite
def set_files(draw) -> bytes:
    row = st.fixed_dictionaries({"sentence": texts, "label": labels},
                                optional={"label_name": mostly(st.sampled_from(NAMES), json_values | st.just("other"))})
    lines = [json_line(draw, r) for r in draw(st.lists(row, max_size=5))]
    return draw(mutated("\n".join(lines).encode("utf-8", "surrogatepass")))


@given(set_files())
def test_set_file_reader(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "set_0.jsonl"
        path.write_bytes(data)
        try:
            split = read_set(path, SPEC)
        except DilmError as e:
            check_error(e, path)
            return
    lines = data.decode("utf-8-sig").split("\n")
    reference = [json.loads(line) for line in lines if line.strip()]
    assert len(reference) == len(split)
    for ref, text_fields, label in zip(reference, split.texts, split.labels):
        assert text_fields == (ref["sentence"],) and label == expected_label(ref["label"]) is not None
        assert ref.get("label_name", NAMES[label]) == NAMES[label]


KEYS = ["seed", "precision", "distill.lr", "distill.tau", "generate.dpc", "generate.top_p", "data.label_names",
        "data.holdout", "model.max_length", "stages", "pretrain.steps", "distill.lrr", "nope", "seed.x", ""]
VALUES = (st.text(max_size=12) | st.sampled_from([".nan", ".inf", "-.inf", "1e400", "9" * 5000, "[", "{a: [}",
                                                  "!!python/object:os.system x", "[5, 10]", "[0]", "null", "~",
                                                  "true", "yes", "1e-4", "\x00", "'\u2028'", "[[1]]"])
          | json_values.map(lambda v: json.dumps(v, allow_nan=True)))


@given(st.lists(st.tuples(st.sampled_from(KEYS) | st.text(max_size=6), VALUES), min_size=1, max_size=3))
def test_config_overrides(overrides):
    items = [f"{key}={value}" for key, value in overrides]
    try:
        cfg = load_config(None, items)
    except DilmError as e:
        assert len(str(e).splitlines()) == 1 and "\n" not in str(e), str(e)
        return
    numbers = [cfg.distill.lr, cfg.distill.tau, cfg.generate.top_p, cfg.pretrain.lr]
    assert all(math.isfinite(x) for x in numbers)
    assert all(type(k) is int and k > 0 for k in cfg.generate.dpc)
    assert type(cfg.seed) is int and cfg.precision in ("auto", "bf16", "fp32")
