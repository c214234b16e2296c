"""Run dilm on each kind of bad input and write the message a user gets to docs/errors.md.

    .venv/bin/python scripts/error_table.py

Needs no training: every case fails in config checks, data loading or model resolution.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dilm.cli import main  # noqa: E402


def folder(root: Path, name: str, train: str | bytes, info: dict | str | None = None) -> str:
    d = root / name
    d.mkdir()
    data = train if isinstance(train, bytes) else train.encode("utf-8")
    (d / ("train.csv" if name.endswith("csv") else "train.jsonl")).write_bytes(data)
    info = info or {"text_fields": ["sentence"], "label_names": ["neg", "pos"]}
    (d / "info.json").write_text(info if isinstance(info, str) else json.dumps(info))
    return str(d)


def row(text: str, label) -> str:
    return json.dumps({"sentence": text, "label": label}) + "\n"


def cases(root: Path) -> list[tuple[str, list[str]]]:
    good = row("good", 1) + row("bad", 0)
    return [*data_cases(root, good), *output_cases(root, good)]


def data_cases(root: Path, good: str) -> list[tuple[str, list[str]]]:
    no_weights = root / "empty_model"
    no_weights.mkdir()
    (no_weights / "config.json").write_text("{}")
    claimed = root / "claimed"
    claimed.mkdir()
    (claimed / "config.yaml").write_text("seed: 7\n")
    return [
        ("missing data folder", ["validate", "data.dataset=/no/such/folder"]),
        ("unknown dataset name", ["validate", "data.dataset=sst"]),
        ("empty data file", ["validate", f"data.dataset={folder(root, 'empty', '')}"]),
        ("malformed JSON line", ["validate", f"data.dataset={folder(root, 'badjson', good + '{oops' + chr(10))}"]),
        ("CSV row with extra column", ["validate", f"data.dataset={folder(root, 'bad_csv', 'sentence,label' + chr(10) + 'good,1' + chr(10) + 'bad,0,x' + chr(10))}"]),
        ("missing text field", ["validate", f"data.dataset={folder(root, 'nofield', good + json.dumps({'text': 'x', 'label': 0}) + chr(10))}"]),
        ("missing label field", ["validate", f"data.dataset={folder(root, 'nolabel', good + json.dumps({'sentence': 'x'}) + chr(10))}"]),
        ("label outside the label names", ["validate", f"data.dataset={folder(root, 'label5', good + row('x', 5))}"]),
        ("non-integer label", ["validate", f"data.dataset={folder(root, 'labelstr', good + row('x', 'maybe'))}"]),
        ("a class with no rows", ["validate", f"data.dataset={folder(root, 'oneclass', row('a', 1) + row('b', 1))}"]),
        ("class smaller than the teacher size", ["validate", f"data.dataset={folder(root, 'small', good)}"]),
        ("pair spec on a single-text file", ["validate", f"data.dataset={folder(root, 'pairspec', good)}",
                                            "data.text_fields=[sentence1, sentence2]"]),
        ("unknown config key", ["validate", "distill.lrr=1e-5"]),
        ("badly typed value", ["validate", "pretrain.steps=many"]),
        ("unknown preset", ["validate", "--preset", "dmeo"]),
        ("unknown model short name", ["validate", "model.generator=smolm2-135m"]),
        ("model folder without weights", ["validate", f"model.learner={no_weights}"]),
        ("unknown selection method", ["validate", "generate.selection=kcenter"]),
        ("unknown conditioning layout", ["validate", "model.conditioning=instructions"]),
        ("instruction template without {label}", ["validate", "data.instruction=Write a movie review."]),
        ("instruction template that does not tell classes apart",
         ["validate", f"data.dataset={folder(root, 'sameprefix', good)}", "model.conditioning=label_words",
          "distill.real_batch=1", "--label-names", "pos", "pos_"]),
        ("unknown precision", ["validate", "precision=fp16"]),
        ("DPC <= 0", ["validate", "generate.dpc=[0]"]),
        ("over-sample ratio < 1", ["validate", "generate.oversample=0"]),
        ("negative LM-term weight", ["validate", "distill.lm_weight=-1"]),
        ("unknown refinement", ["validate", "generate.refine=centre"]),
        ("refinement with no pass", ["validate", "generate.refine=centroid", "generate.refine_passes=0"]),
        ("output folder of another run", ["run", f"out_dir={claimed}", "stages=[]"]),
        ("generate with no trained generator", ["generate", f"out_dir={root / 'fresh'}"]),
        ("a null text", ["validate", f"data.dataset={folder(root, 'nulltext', good + row(None, 1))}"]),
        ("an empty text", ["validate", f"data.dataset={folder(root, 'emptytext', good + row('', 1))}"]),
        ("a text of spaces only", ["validate", f"data.dataset={folder(root, 'blanktext', good + row('   ', 1))}"]),
        ("info.json that is not JSON", ["validate", f"data.dataset={folder(root, 'badinfo', good, BAD_INFO)}"]),
        ("JSONL with a UTF-8 byte-order mark (read)", ["validate", f"data.dataset={folder(root, 'bom', BOM + good)}",
                                                       "distill.real_batch=1"]),
        ("a Latin-1 file", ["validate", f"data.dataset={folder(root, 'latin1', good.encode() + LATIN1)}"]),
        ("an override after --label-names (applied)", ["validate", f"data.dataset={folder(root, 'names', good)}",
                                                        "--text-fields", "sentence", "--label-names", "neg", "pos",
                                                        "distill.real_batch=1"]),
        ("an override after --dpc (applied)", ["coreset", "--method", "random", f"data.dataset={root / 'names'}",
                                               "--sets-dir", str(root / "cs"), "--dpc", "1", "precision=fp32"]),
    ]


BAD_INFO = '{"text_fields": ["sentence"],\n "label_names": ["neg" "pos"]}\n'
BOM = "\ufeff"
LATIN1 = '{"sentence": "un café", "label": 1}\n'.encode("latin-1")


def output_cases(root: Path, good: str) -> list[tuple[str, list[str]]]:
    """Outputs that must not be replaced, and damaged outputs."""
    data = folder(root, "data", good)
    run = root / "run" / "sets" / "dpc_1"  # a run's generated set
    run.mkdir(parents=True)
    (run / "set_0.jsonl").write_text(row("good", 1) + row("bad", 0))
    (run.parent / "manifest.json").write_text(json.dumps({"sets/dpc_1/set_0.jsonl": "0123456789abcdef"}))
    coreset = ["coreset", "--method", "random", f"data.dataset={data}", "--dpc", "1"]
    taken = root / "taken" / "sets" / "dpc_1"  # a coreset filed where a run puts its generated sets
    taken.mkdir(parents=True)
    (taken / "set_0.jsonl").write_text(row("good", 1) + row("bad", 0))
    (taken / "selection.json").write_text(json.dumps({"method": "kcenters", "run": "0123456789abcdef"}))
    damaged = root / "damaged"
    damaged.mkdir()
    (damaged / "config.yaml").write_text("seed: [1\n")
    (root / "dm" / "sets").mkdir(parents=True)
    (root / "dm" / "sets" / "manifest.json").write_text('{"sets/dpc_5/set_0.jsonl": "0123')
    (root / "results.sqlite").write_bytes(b"not a database " * 100)
    return [
        ("coreset over a run's generated sets", [*coreset, "--sets-dir", str(root / "run" / "sets")]),
        ("coreset beside a run (own folder)", [*coreset, "--out", str(root / "run")]),
        ("run over another method's sets", ["run", f"out_dir={root / 'taken'}", "generate.dpc=[1]"]),
        ("damaged config.yaml of a run", ["run", f"out_dir={damaged}", "stages=[]"]),
        ("damaged sets/manifest.json", ["generate", f"out_dir={root / 'dm'}", "--generator", str(root / "gen")]),
        ("damaged results store", ["report", "--store", str(root / "results.sqlite"), "--out", str(root / "rep")]),
    ]


def run(argv: list[str]) -> tuple[int, str]:
    """Exit code and the error line, or for a command that works, `ok:` and what it printed."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(argv)
    lines = [line for line in err.getvalue().splitlines() if "error:" in line]
    if lines:
        return code, lines[-1]
    printed = [line for line in out.getvalue().splitlines() if line.startswith(("dataset ", "/"))]
    return code, "ok: " + (printed[0] if printed else "(no output)")


OWNERSHIP = """
## Set files are never replaced by another method or run

Every set file records who wrote it: a coreset folder's `selection.json` names the method and a
hash of what decides its rows (selector, features, seed, data, learner), and a run's
`sets/manifest.json` maps each generated file to the tag of the generation that wrote it
(settings and generator). `dilm run`, `dilm generate` and `dilm coreset` write a set file only if
it does not exist yet or its record names the same writer: the same command again resumes, skips or
rewrites the same rows. Anything else stops before its sets are written, with one line naming the
file (rows above). `dilm coreset --out DIR` files its sets under `DIR/sets/<label>/dpc_<k>/`, beside
the run's generated `DIR/sets/dpc_<k>/`. `generate` and `run` replace another generation's sets only
with `--overwrite`, and another method's sets never. `dilm run` looks for other methods' sets before
it trains; another generation's sets are found when generation starts, after a stage whose settings
changed has run again (its new generator is kept: rerun with `--overwrite` to write its sets).
"""

FUZZING = """
## Fuzzing the readers

`tests/test_fuzz_readers.py` (Hypothesis) feeds the JSONL, CSV and TSV readers, `info.json`, set
files and `key=value` overrides with valid documents run through mutations: truncation, random
bytes, Latin-1 and UTF-16 parts, byte-order marks, CRLF, NUL bytes, duplicate keys, `NaN`/`Infinity`,
numbers beyond a float's range and 40-digit integers, wrong types (null, bools, lists, objects), control
characters, lone surrogates and lines of up to 250,000 characters. Every case must end in rows that
are all valid and exactly what the file says (texts non-blank strings; labels the file's integer,
integer string, integral float or label name, never a bool or a rounded 1.5), or in a `DilmError`
of one line that names the file (and the line, for a row). The default run has 300 examples per
reader (about 20 s); the long profile has 10,000:

    HF_HUB_OFFLINE=1 .venv/bin/python -m pytest tests/test_fuzz_readers.py --hypothesis-profile long

{long_run}
"""
LONG_RUN = """\
It ran on 2026-12-01 (commit 8892bdb) as one process on this project's 2-core machine, shared with
other jobs (about 20% of a core): 10,000 examples per reader, 60,000 in all, in 22 min 28 s (283 s
of CPU): JSONL 191 s, CSV 678 s, TSV 138 s, info.json 132 s, set files 118 s, overrides 91 s. No
finding: every case gave valid rows or one `DilmError` line. The default profile had found one case
before it, fixed since: a set row with `"label_name": null` was read as if it had no label name."""


def markdown(rows: list[tuple[str, str, int, str]]) -> str:
    out = ["# What dilm says on bad input", "",
           "Generated by `.venv/bin/python scripts/error_table.py` (exit code 2, one line, no traceback; "
           "`--debug` shows it). Rows with exit 0 show input that is accepted as it should be.", "",
           "| bad input | command | exit | message |", "|---|---|---|---|"]
    for what, cmd, code, msg in rows:
        out.append(f"| {what} | `{cmd}` | {code} | {msg.replace('|', '/')} |")
    return "\n".join(out) + "\n" + OWNERSHIP + FUZZING.format(long_run=LONG_RUN)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = []
        for what, argv in cases(root):
            code, msg = run(argv)
            shown = " ".join(a if tmp not in a else a.replace(tmp, "$TMP") for a in argv)
            rows.append((what, f"dilm {shown}", code, msg.replace(tmp, "$TMP")))
    text = markdown(rows)
    target = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
    target.write_text(text)
    print(text)
