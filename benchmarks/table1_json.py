"""docs/results/sst2_table1.json from the Table-1 results store (issue 3's shape).

`python benchmarks/table1_json.py STORE OUT.json [CONDITIONING.json LABEL_AGREEMENT.json]`: the
learner runs of STORE (not the ICL ones) as {method: {dpc: {"mean", "std", "n", "p_vs_<baseline>"}}}
in percent, with Welch's p against each baseline present (random, kcenters, herding, and
vanilla_lm: DiLM without gradient matching), `full`
under the key "all". With the two diagnostics files (benchmarks/class_conditioning.py on the
DiLM generator, benchmarks/label_agreement.py on the sets) it adds
`dilm_diagnostics: {"generative_accuracy_pct", "label_agreement_pct": {dpc: ...}}`.
The command (the Table-1 script named by $TABLE1_SCRIPT, default benchmarks/sst2_table1.sh), date, machine,
versions, seeds and protocol go beside it in OUT with `.meta.json` for `.json`.
"""

import datetime
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dilm.io import write_json  # noqa: E402
from dilm.report import results_table, table_json  # noqa: E402
from dilm.store import ResultStore  # noqa: E402


BASELINES = ("random", "kcenters", "herding", "vanilla_lm")  # vanilla_lm: does gradient matching help?


def with_p_values(runs) -> dict:
    """The kcenters-referenced table, each cell given p against every baseline present."""
    table = table_json(results_table(runs, "kcenters"))
    for baseline in BASELINES:
        if baseline == "kcenters" or not any(r.method == baseline for r in runs):
            continue
        other = table_json(results_table(runs, baseline))
        for method, row in table.items():
            for dpc, cell in row.items():
                cell[f"p_vs_{baseline}"] = other[method][dpc][f"p_vs_{baseline}"]
    return table


def diagnostics(conditioning: str, agreement: str) -> dict:
    """DiLM's generator-as-classifier accuracy (the mean over its generators, and each) and its sets' label agreement per DPC."""
    cond = json.loads(Path(conditioning).read_text())
    agree = json.loads(Path(agreement).read_text())["agreement"].get("dilm", {})
    gens = cond["generators"]
    return {"generative_accuracy_pct": sum(g["generative_accuracy_pct"] for g in gens) / len(gens),
            "generative_accuracy_per_generator": {g["generator"]: g["generative_accuracy_pct"] for g in gens},
            "generative_accuracy_rows": gens[0]["rows"],
            "label_agreement_pct": {dpc: cell["agreement_pct"] for dpc, cell in agree.items()}}


def main(store_path: str, out: str, conditioning: str | None = None, agreement: str | None = None) -> int:
    with ResultStore(store_path) as store:
        runs = [r for r in store.query(dataset="sst2") if not r.key.learner.startswith("icl:")]
    if not runs:
        raise SystemExit(f"{store_path}: no SST-2 learner runs")
    table = with_p_values(runs)
    if conditioning and agreement:
        table["dilm_diagnostics"] = diagnostics(conditioning, agreement)
    first = runs[0]
    meta = {
        "command": os.environ.get("TABLE1_SCRIPT", "bash benchmarks/sst2_table1.sh"),  # the script that ran this one
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "dataset": "sst2 (scored on the GLUE validation split, 872 rows)", "metric": first.metric,
        "learner": sorted({r.key.learner for r in runs}), "protocol": first.protocol_fields,
        "runs": len(runs), "seeds": sorted({r.key.seed for r in runs}),
        "versions": first.versions, "machine": first.machine,
        "cells": "mean ± sample std over learner runs (sets x seeds), percent; p from Welch's t-test "
                 "against each baseline",
    }
    write_json(Path(out), table)
    write_json(Path(out).with_suffix(".meta.json"), meta)
    print(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
