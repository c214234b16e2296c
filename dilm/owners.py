"""Who wrote a set file, so that no command replaces a set that another method or run wrote.

Every set file dilm writes has a recorded writer (`Writer`: a method and a run tag):
- coreset sets: the `selection.json` of their `dpc_<k>/` folder names the method (the label
  results are filed under) and `run`, a hash of what decides the rows (selector, features,
  seed, data, learner). A coreset folder belongs to one writer as a whole.
- generated sets: `<out>/sets/manifest.json` maps each file (relative to `<out>`) to the tag
  of the generation that wrote it (its settings and generator); the method is `dilm`.

A command may write a set file that does not exist yet, or one whose recorded writer is
itself: the same command again resumes, skips or rewrites the same rows. Any other file
(another method, another run, or a file without a record) is refused before anything is
written, with one line that names the file and the way out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dilm.errors import DilmError
from dilm.readers import read_json_file
from dilm.sets import GENERATED_METHOD, SELECTION_FILE, read_selection

MANIFEST = "manifest.json"  # in <out>/sets/: {"sets/dpc_<k>/set_<i>.jsonl": tag of its generation}


@dataclass(frozen=True)
class Writer:
    """The method and run (tag of the settings that decide the rows) that wrote a set file."""

    method: str
    run: str  # "" in a coreset record written before runs were recorded: matches any run of its method


def read_manifest(path: Path) -> dict[str, str]:
    """A generated-sets manifest ({} if there is none); DilmError naming it when it is damaged."""
    if not path.exists():
        return {}
    fix = "it records which generation wrote each set: restore it, or move the sets folder away"
    manifest = read_json_file(path, "set manifest", fix)
    if not isinstance(manifest, dict) or not all(isinstance(v, str) for v in manifest.values()):
        raise DilmError(f"{path}: set manifest is not a JSON object of set files and tags; {fix}")
    return manifest


def recorded_writer(path: Path) -> Writer | None:
    """The writer recorded for set file `path` (which may not exist yet), or None without a record."""
    path = Path(path).absolute()  # `--sets-dir .` has no parents to go up to otherwise
    selection = path.parent / SELECTION_FILE
    if selection.exists():
        record = read_selection(selection)
        return Writer(record["method"], str(record.get("run", "")))
    manifest = path.parent.parent / MANIFEST
    if not manifest.exists():
        return None
    tag = read_manifest(manifest).get(path.relative_to(manifest.parent.parent).as_posix())
    return Writer(GENERATED_METHOD, tag) if tag is not None else None


def same_writer(found: Writer | None, writer: Writer, also: tuple[str, ...] = ()) -> bool:
    """Whether a recorded writer is `writer` (or `writer`'s method under one of the run tags `also`)."""
    if found is None or found.method != writer.method:
        return False
    return found.run in (writer.run, *also) or (found.run == "" and writer.method != GENERATED_METHOD)


def describe(found: Writer | None, writer: Writer) -> str:
    if found is None:
        return "no recorded writer (not written by this command)"
    if found.method != writer.method:
        return f"the method '{found.method}'"
    what = "settings or generator" if writer.method == GENERATED_METHOD else "seed, data or features"
    return f"another '{found.method}' run (other {what})"


def check_writable(paths: list[Path], writer: Writer, way_out: str, also: tuple[str, ...] = (),
                   whole_folder: bool = False) -> None:
    """Refuse, before anything is written, to replace a set file that another writer wrote.

    Args:
        paths: the set files the command will write.
        way_out: what to do instead, appended to the message (e.g. "give another --sets-dir").
        also: older run tags that also count as `writer` (records of an earlier dilm version).
        whole_folder: the command writes a record for the whole `dpc_<k>/` folder (coresets), so
            every set already in the folder must be `writer`'s, not only the ones it replaces.

    Raises:
        DilmError naming the first file that belongs to another writer.
    """
    checked = list(paths)
    if whole_folder:
        checked += sorted({p for path in paths for p in path.parent.glob("set_*.jsonl")})
    for path in dict.fromkeys(checked):
        found = recorded_writer(path)
        if not path.exists() and (found is None or found.method == writer.method):
            continue
        if not same_writer(found, writer, also):
            shown = path if path.exists() else path.parent / SELECTION_FILE
            raise DilmError(f"{shown} belongs to sets written by {describe(found, writer)}; "
                            f"not replacing it: {way_out}")
