"""Compare 1-process and 2-process runs written by benchmarks/scaling.sh.

`python benchmarks/scaling_compare.py RUNS_DIR OUT.json SIZE...`: for each size, the wall
time and per-stage timings of `<size>_p1` and `<size>_p2`, the largest absolute and relative
difference of the pre-trained and distilled generator weights, and whether the set files
are identical; written to OUT.json and printed.
"""

import datetime
import json
import platform
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dilm.io import write_json  # noqa: E402


def weight_diff(a: Path, b: Path) -> dict:
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    max_abs = max(float((wa[k] - wb[k]).abs().max()) for k in wa)
    num = sum(float((wa[k] - wb[k]).double().pow(2).sum()) for k in wa) ** 0.5
    den = sum(float(wa[k].double().pow(2).sum()) for k in wa) ** 0.5
    return {"max_abs": max_abs, "relative_l2": num / den}


def sets_of(run: Path) -> dict[str, str]:
    return {str(p.relative_to(run)): p.read_text() for p in sorted((run / "sets").rglob("set_*.jsonl"))}


def compare(runs: Path, size: str) -> dict:
    one, two = runs / f"{size}_p1", runs / f"{size}_p2"
    result = {}
    for name, run in (("p1", one), ("p2", two)):
        timings = json.loads((run / "timings.json").read_text())
        result[name] = {"wall_s": float((run / "wall_seconds.txt").read_text()),
                        "stages_s": {k: v["seconds"] for k, v in timings.items() if isinstance(v, dict)
                                     and "seconds" in v}}
    result["generator_pretrained"] = weight_diff(one / "generator_pretrained", two / "generator_pretrained")
    result["generator_distilled"] = weight_diff(one / "generator_distilled", two / "generator_distilled")
    s1, s2 = sets_of(one), sets_of(two)
    result["sets_identical"] = s1 == s2
    result["sets_rows_differing"] = sum(
        sum(x != y for x, y in zip(s1[k].splitlines(), s2.get(k, "").splitlines())) for k in s1)
    return result


def main(runs: str, out: str, *sizes: str) -> int:
    res = {"command": "bash benchmarks/scaling.sh", "machine": platform.platform(), "torch": torch.__version__,
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "sizes": {s: compare(Path(runs), s) for s in sizes}}
    write_json(Path(out), res)
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
