"""One method's runs in one store against every method of a reference store, same protocol and DPC.

`python benchmarks/compare_stores.py STORE REFERENCE_STORE OUT.json --method M --dpc K`

Writes mean ± std and n of M at DPC K (and the mean of each of its set files), and for every method
of REFERENCE_STORE scored under the same protocol at that DPC its mean ± std, n, the difference and
Welch's p.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dilm.errors import DilmError  # noqa: E402
from dilm.io import write_json  # noqa: E402
from dilm.metrics import summary, welch  # noqa: E402
from dilm.store import ResultStore  # noqa: E402


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store")
    ap.add_argument("reference")
    ap.add_argument("out")
    ap.add_argument("--method", required=True)
    ap.add_argument("--dpc", type=int, required=True)
    a = ap.parse_args(argv)
    with ResultStore(a.store) as s:
        mine = [r for r in s.query() if r.method == a.method and r.dpc == a.dpc]
    if not mine or len({r.key.protocol for r in mine}) != 1:
        raise DilmError(f"{a.store}: need runs of '{a.method}' at DPC {a.dpc} under one protocol, "
                        f"found {len(mine)} under {len({r.key.protocol for r in mine})}")
    protocol = mine[0].key.protocol
    with ResultStore(a.reference) as s:
        ref = [r for r in s.query() if r.dpc == a.dpc and r.key.protocol == protocol]
    scores = [r.score for r in mine]
    cells = {}
    for m in sorted({r.method for r in ref}):
        v = [r.score for r in ref if r.method == m]
        cells[m] = {"mean": summary(v).mean, "std": summary(v).std, "n": len(v),
                    "difference": summary(scores).mean - summary(v).mean, "p": welch(scores, v)}
        print(f"{a.method} - {m}: {cells[m]['difference']:+.1f} (p = {cells[m]['p']:.2g}); "
              f"{m} {cells[m]['mean']:.1f} ± {cells[m]['std']:.1f} (n={len(v)})")
    per_set = {p: summary([r.score for r in mine if r.set_path == p]).mean for p in sorted({r.set_path for r in mine})}
    print(f"{a.method}: {summary(scores).mean:.1f} ± {summary(scores).std:.1f} (n={len(scores)}); per set "
          + " / ".join(f"{v:.1f}" for v in per_set.values()))
    write_json(Path(a.out), {"command": "python benchmarks/compare_stores.py " + " ".join(argv),
                             "method": a.method, "dpc": a.dpc, "protocol": protocol,
                             "mean": summary(scores).mean, "std": summary(scores).std, "n": len(scores),
                             "per_set": per_set, "against": cells})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
