"""docs/results/sst2_table1.json from the Table-1 results store (issue 3's shape).

`python benchmarks/table1_json.py STORE OUT.json`: the learner runs of STORE (not the ICL
ones) as {method: {dpc: {"mean", "std", "n", "p_vs_kcenters"}}} in percent, `full` under
the key "all"; the command, date, machine, versions, seeds and protocol go beside it in
OUT with `.meta.json` for `.json`.
"""

import datetime
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dilm.io import write_json  # noqa: E402
from dilm.report import results_table, table_json  # noqa: E402
from dilm.store import ResultStore  # noqa: E402


def main(store_path: str, out: str) -> int:
    with ResultStore(store_path) as store:
        runs = [r for r in store.query(dataset="sst2") if not r.key.learner.startswith("icl:")]
    if not runs:
        raise SystemExit(f"{store_path}: no SST-2 learner runs")
    table = table_json(results_table(runs, "kcenters"))
    first = runs[0]
    meta = {
        "command": "bash benchmarks/sst2_table1.sh",
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "dataset": "sst2 (scored on the GLUE validation split, 872 rows)", "metric": first.metric,
        "learner": sorted({r.key.learner for r in runs}), "protocol": first.protocol_fields,
        "runs": len(runs), "seeds": sorted({r.key.seed for r in runs}),
        "versions": first.versions, "machine": first.machine,
        "cells": "mean ± sample std over learner runs (sets x seeds), percent; p from Welch's t-test vs kcenters",
    }
    write_json(Path(out), table)
    write_json(Path(out).with_suffix(".meta.json"), meta)
    print(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
