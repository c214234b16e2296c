"""Set files: the JSON-Lines format shared by generated and coreset sets, and what a set's path says.

A set row holds the dataset's own text field(s), an integer `label` and its `label_name`.
Sets live at `<out>/sets/dpc_<k>/set_<i>.jsonl` (a run's generated sets),
`<out>/sets/<label>/dpc_<k>/set_<i>.jsonl` (coresets filed beside a run; their `selection.json`
names the method) or `.../sets/<dataset>/<method>/dpc_<k>/set_<i>.jsonl` (the published layout
under docs/results/). Which command wrote a set file is recorded too: see `dilm.owners`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from dilm.data import DatasetSpec, Split, parse_rows
from dilm.errors import DilmError, shorten
from dilm.readers import read_json_file, read_rows

SELECTION_FILE = "selection.json"  # beside coreset sets: {"method": ..., "features": ...}
GENERATED_METHOD = "dilm"  # label of sets under a run folder's sets/ with no selection.json
_DPC_DIR = re.compile(r"^dpc_(\d+)$")


def set_row(spec: DatasetSpec, text: tuple[str, ...], label: int) -> dict:
    """One JSONL row: the text fields, `label` and `label_name`."""
    return {**dict(zip(spec.text_fields, text)), "label": label, "label_name": spec.label_names[label]}


def read_set(path: str | Path, spec: DatasetSpec) -> Split:
    """Read and validate a set file against the dataset spec.

    Raises:
        DilmError naming the file and line: missing text field or `label`, a label outside the
        label names, or a `label_name` that disagrees with the label.
    """
    path = Path(path)
    rows = read_rows(path)
    split = parse_rows(rows, replace(spec, label_field="label"), str(path))
    for (n, row), label in zip(rows, split.labels):
        name = row.get("label_name", spec.label_names[label])  # optional, but if given (even null) it must match
        if name != spec.label_names[label]:
            raise DilmError(f"{path}, line {n}: label_name {shorten(repr(name))} does not match label {label} "
                            f"('{spec.label_names[label]}' in dataset '{spec.name}')")
    return split


def read_selection(path: Path) -> dict:
    """A coreset folder's selection.json; DilmError naming it when it is damaged."""
    fix = "it names the coreset method of the sets beside it: restore it, or move the folder away"
    record = read_json_file(path, "selection record", fix)
    if not isinstance(record, dict) or not isinstance(record.get("method"), str):
        raise DilmError(f"{path}: selection record has no 'method' string; {fix}")
    return record


@dataclass(frozen=True)
class SetInfo:
    """A set file and the labels its results are filed under."""

    path: Path
    method: str
    dpc: int
    dataset: str | None = None  # from the published layout; None when the path does not say


def describe_set(path: str | Path, method: str | None = None, dpc: int | None = None) -> SetInfo:
    """Method and DPC of a set: as given, else from its path (see module docstring).

    Raises:
        DilmError when the DPC cannot be read from the path and was not given.
    """
    path = Path(path)
    dpc_dir = path.parent
    match = _DPC_DIR.match(dpc_dir.name)
    dataset = None
    if dpc is None:
        if not match:
            raise DilmError(f"cannot tell the DPC of {path} from its path (expected .../dpc_<k>/set_<i>.jsonl); "
                            "give --dpc")
        dpc = int(match.group(1))
    if match and dpc_dir.parent.parent.parent.name == "sets" and dpc_dir.parent.parent.name:
        dataset = dpc_dir.parent.parent.name  # sets/<dataset>/<method>/dpc_<k>
    if method is None:
        selection = dpc_dir / SELECTION_FILE
        if selection.exists():
            method = read_selection(selection)["method"]
        elif match and dpc_dir.parent.name != "sets":
            method = dpc_dir.parent.name
        elif match:
            method = GENERATED_METHOD
        else:
            raise DilmError(f"cannot tell the method of {path} from its path; give --method")
    return SetInfo(path, method, dpc, dataset)


def read_sets(sets: list[SetInfo], spec: DatasetSpec) -> dict[Path, Split]:
    """Read and validate every set before any work starts.

    Raises:
        DilmError for a set filed under another dataset than `spec`, or an invalid set file.
    """
    for info in sets:
        if info.dataset is not None and info.dataset != spec.name:
            raise DilmError(f"{info.path} is filed under dataset '{info.dataset}', but the evaluation "
                            f"dataset is '{spec.name}'")
    return {info.path: read_set(info.path, spec) for info in sets}


def expand_set_paths(items: list[str]) -> list[Path]:
    """Set files from arguments: a file is itself, a folder holds `set_*.jsonl` at any depth."""
    paths: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(p.rglob("set_*.jsonl"))
            if not found:
                raise DilmError(f"no set_*.jsonl files under {p}")
            paths += found
        elif p.exists():
            paths.append(p)
        else:
            raise DilmError(f"set file not found: {p}")
    return list(dict.fromkeys(paths))
