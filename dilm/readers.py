"""Reading files strictly: UTF-8 (a byte-order mark allowed), JSON without NaN or duplicate keys, CSV/TSV.

Whatever a file holds, reading it either returns its values unchanged or raises a one-line
`DilmError` that names the file and, where there is one, the line. JSON is parsed as data
only: `NaN`/`Infinity`, numbers beyond a float's range and duplicate keys are refused rather
than read as something the file did not say.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from dilm.errors import DilmError


class Refused(ValueError):
    """A JSON value that parses but is refused: NaN, an out-of-range number, a duplicate key."""


def _no_constant(name: str) -> Any:
    raise Refused(f"{name} is not a number (JSON has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise Refused(f"number {text[:40]} is out of range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    row: dict = {}
    for key, value in pairs:
        if key in row:
            raise Refused(f"duplicate key {key[:40]!r}")
        row[key] = value
    return row


def loads_strict(text: str) -> Any:
    """`json.loads` that refuses NaN, Infinity, out-of-range numbers and duplicate keys.

    Raises:
        json.JSONDecodeError (with `lineno`/`colno`) for malformed JSON, `ValueError` for a
        refused value or an integer too long to convert, RecursionError for deep nesting.
    """
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float,
                      object_pairs_hook=_unique_keys)


def json_problem(e: Exception) -> str:
    """What is wrong, for an exception `loads_strict` raised."""
    if isinstance(e, json.JSONDecodeError):
        return f"malformed JSON ({e.msg}: line {e.lineno}, column {e.colno})"
    if isinstance(e, RecursionError):
        return "malformed JSON (nested too deeply)"
    return f"refused JSON value ({str(e).split(';')[0]})"


def decode_utf8(data: bytes, path: Path) -> str:
    """The text of a UTF-8 file (a leading byte-order mark dropped, newlines kept as they are)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DilmError(f"{path} is UTF-16, not UTF-8: convert it, e.g. "
                        f"`iconv -f utf-16 -t utf-8 {path} > {path.stem}.utf8{path.suffix}`")
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[start:].decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, start + e.start) + 1
        raise DilmError(f"{path}, line {line}: the file is not UTF-8 (byte 0x{data[start + e.start]:02x}); "
                        f"convert it, e.g. `iconv -f latin1 -t utf-8 {path} > {path.stem}.utf8{path.suffix}`"
                        ) from None


def read_text(path: Path, what: str = "file") -> str:
    """The decoded text of `path`; DilmError when it is missing, unreadable or not UTF-8."""
    if not path.exists():
        raise DilmError(f"{what} not found: {path}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DilmError(f"cannot read {what} {path}: {e.strerror or e}") from None
    return decode_utf8(data, path)


def read_json_file(path: Path, what: str, fix: str) -> Any:
    """A whole JSON file (info.json, a manifest, a cache); DilmError naming it, where, and `fix`."""
    try:
        text = read_text(path, what)
    except DilmError as e:
        raise DilmError(f"{e}; {fix}") from None
    try:
        return loads_strict(text)
    except (ValueError, RecursionError) as e:
        raise DilmError(f"{path}: {what} is not valid: {json_problem(e)}; {fix}") from None


def jsonl_rows(text: str, path: Path) -> list[tuple[int, dict]]:
    """(line number, object) for every non-blank line of a JSON-Lines text."""
    rows = []
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = loads_strict(line)
        except json.JSONDecodeError as e:
            raise DilmError(f"{path}, line {n}: malformed JSON ({e.msg}, column {e.colno})") from None
        except (ValueError, RecursionError) as e:
            raise DilmError(f"{path}, line {n}: {json_problem(e)}") from None
        if not isinstance(row, dict):
            raise DilmError(f"{path}, line {n}: expected a JSON object, got {type(row).__name__}")
        rows.append((n, row))
    return rows


def csv_rows(text: str, path: Path, delimiter: str) -> list[tuple[int, dict]]:
    """(line number where the record starts, {column: value}) for every record of a CSV/TSV text."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, dict]] = []
    header: list[str] | None = None
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return rows
        except csv.Error as e:
            raise DilmError(f"{path}, line {start}: cannot parse the row ({e})") from None
        if header is None:
            header = _check_header(values, path)
        elif values:  # blank lines are skipped, as in JSON-Lines
            if len(values) != len(header):
                raise DilmError(f"{path}, line {start}: row has a different number of columns than the header")
            rows.append((start, dict(zip(header, values))))


def _check_header(values: list[str], path: Path) -> list[str]:
    if not values:
        raise DilmError(f"{path}, line 1: the header line is empty")
    for i, name in enumerate(values):
        if name in values[:i]:
            raise DilmError(f"{path}, line 1: column {name[:40]!r} appears twice in the header")
    return values


def read_rows(path: Path) -> list[tuple[int, dict]]:
    """Read (line number, row) pairs from a JSONL, CSV or TSV file, parsed as data only."""
    text = read_text(path, "data file")
    if not text.strip():
        raise DilmError(f"data file is empty: {path}")
    if path.suffix in (".jsonl", ".json"):
        rows = jsonl_rows(text, path)
    else:
        rows = csv_rows(text, path, "\t" if path.suffix == ".tsv" else ",")
    if not rows:
        raise DilmError(f"data file has no rows: {path}")
    return rows
