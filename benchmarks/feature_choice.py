"""Choose the K-centers features (mean pooling or [CLS]) from runs scored on a train carve-out.

`python benchmarks/feature_choice.py STORE OUT.json`: reads the `kcenters_mean` and
`kcenters_cls` runs of STORE (made by benchmarks/sst2_table1.sh with data.holdout), writes
mean ± std, n, Welch's p and the chosen pooling (the higher mean) to OUT.json and prints them.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dilm.io import write_json  # noqa: E402
from dilm.metrics import summary, welch  # noqa: E402
from dilm.store import ResultStore  # noqa: E402


def main(store_path: str, out: str) -> int:
    with ResultStore(store_path) as store:
        runs = {f: [r for r in store.query(method=f"kcenters_{f}")] for f in ("mean", "cls")}
    if not all(runs.values()):
        raise SystemExit(f"{store_path}: needs kcenters_mean and kcenters_cls runs")
    result = {"scored_on": runs["mean"][0].protocol_fields, "metric": runs["mean"][0].metric}
    for f, rs in runs.items():
        s = summary([r.score for r in rs])
        result[f] = {"mean": s.mean, "std": s.std, "n": s.n, "dpc": sorted({r.dpc for r in rs})}
    result["p_welch"] = welch([r.score for r in runs["mean"]], [r.score for r in runs["cls"]])
    result["chosen"] = "mean" if result["mean"]["mean"] >= result["cls"]["mean"] else "cls"
    write_json(Path(out), result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
