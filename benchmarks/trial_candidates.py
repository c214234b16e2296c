"""How the trial candidates of two methods compare: their probe scores, before and after the pick.

`python benchmarks/trial_candidates.py OUT.json --method NAME trials.json [trials.json ...]
 --method NAME trials.json [...]`

Each `trials.json` is a generation's record of its trial runs (`dilm generate` with
`generate.trials` > 1 writes `<run>/sets/trials.json`: every candidate's probe score, per DPC and
set). Per DPC and method this writes the mean and sample std of all candidates' probe scores, the
mean of the kept ones, and Welch's p between the first method's candidates and each other's. The
probe is training rows, so this compares what the pick saw, not validation accuracy.
"""

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dilm.errors import DilmError  # noqa: E402
from dilm.io import write_json  # noqa: E402
from dilm.metrics import summary, welch  # noqa: E402


def candidates(paths: list[str]) -> dict[int, dict[str, list[float]]]:
    """{dpc: {"all": every candidate's probe score, "kept": the chosen candidates' scores}}."""
    out: dict[int, dict[str, list[float]]] = {}
    for path in paths:
        record = json.loads(Path(path).read_text())
        for set_file, entry in record.items():
            m = re.search(r"dpc_(\d+)/", set_file)
            if not m or "probe_scores" not in entry or "chosen" not in entry:
                raise DilmError(f"{path}: entry {set_file!r} is not a trial record (dpc_<k>/..., probe_scores, chosen)")
            cell = out.setdefault(int(m.group(1)), {"all": [], "kept": []})
            cell["all"] += entry["probe_scores"]
            cell["kept"].append(entry["probe_scores"][entry["chosen"]])
    return out


def compare(methods: dict[str, dict[int, dict[str, list[float]]]]) -> dict:
    first = next(iter(methods))
    table: dict[str, dict] = {}
    for k in sorted({k for m in methods.values() for k in m}):
        row = {}
        for name, by_dpc in methods.items():
            if k not in by_dpc:
                continue
            s = summary(by_dpc[k]["all"])
            row[name] = {"candidates": len(by_dpc[k]["all"]), "mean": s.mean, "std": s.std,
                         "kept_mean": summary(by_dpc[k]["kept"]).mean, "kept": by_dpc[k]["kept"]}
            if name != first and k in methods[first]:
                row[name][f"p_vs_{first}"] = welch(methods[first][k]["all"], by_dpc[k]["all"])
        table[str(k)] = row
    return table


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--method", nargs="+", action="append", required=True, metavar=("NAME", "TRIALS_JSON"))
    args = ap.parse_args(argv)
    methods = {}
    for name, *paths in args.method:
        if not paths:
            raise DilmError(f"--method {name}: give at least one trials.json")
        methods[name] = candidates(paths)
    table = compare(methods)
    write_json(Path(args.out), {"command": "python benchmarks/trial_candidates.py " + " ".join(argv), "by_dpc": table})
    for k, row in table.items():
        for name, c in row.items():
            p = next((v for key, v in c.items() if key.startswith("p_vs_")), None)
            print(f"DPC {k:>3} {name:<12} {c['candidates']} candidates {c['mean']:.1f} ± {c['std']:.1f}, "
                  f"kept {c['kept_mean']:.1f}" + (f", p {p:.3g}" if p is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
