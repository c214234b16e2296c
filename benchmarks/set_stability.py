"""Is a set's quality a property of the set, or learner-seed noise? Two independent scorings compared.

`python benchmarks/set_stability.py STORE_A STORE_B OUT.json`

STORE_A and STORE_B hold one run of the same sets each, made on two different train carve-outs with
two different learner seeds (benchmarks/set_stability.sh: `seed=0` and `seed=1`, which seed both the
carve-out and the learner). For every method (variant) with sets in both, and over all sets pooled,
this writes Pearson's r between the two scores of each set, and what picking by the first scoring
would buy on the second: per method, the mean B score of the best-A half of its sets against the
mean B score of all of them, and the B score of the best-A set of each group of `--group` sets (sets
i // group came from one generation pool, so this is what `generate.trials=group` would have kept,
probed on A's rows). A high r means a set can be chosen by training a learner on it and
scoring on train rows; r near 0 means set-to-set spread is noise a trial run cannot see.

`--subsets M [M ...]` adds, per method, the B score that keeping the best-A set of M candidates
would give on average over every M-subset of each group (what `generate.trials=M` would keep from
M of the group's candidates), so the gain of more candidates can be read without one lucky pick.

`--union A+B` adds the union of methods A and B as one more entry "A+B": each pool's candidates of
both (8 for two 4-candidate variants), as trials over both variants' candidates would pick.
"""

import argparse
import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dilm.errors import DilmError  # noqa: E402
from dilm.io import write_json  # noqa: E402
from dilm.store import ResultStore  # noqa: E402


def pearson(x: list[float], y: list[float]) -> float:
    """Pearson's r of two equal-length lists (nan when either is constant)."""
    if len(x) != len(y) or len(x) < 2:
        raise DilmError(f"pearson needs two lists of the same length >= 2, got {len(x)} and {len(y)}")
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx, syy = sum((a - mx) ** 2 for a in x), sum((b - my) ** 2 for b in y)
    return sxy / (sxx * syy) ** 0.5 if sxx and syy else float("nan")


def scores(store: str) -> dict[str, dict[str, float]]:
    """{method: {set path: score}} of one store (one run per set)."""
    with ResultStore(store) as s:
        runs = s.query()
    if not runs:
        raise DilmError(f"{store}: no runs")
    out: dict[str, dict[str, float]] = {}
    for r in runs:
        out.setdefault(r.method, {})[r.set_path] = r.score
    return out


def set_index(path: str) -> int:
    """i of a `.../set_<i>.jsonl` path."""
    return int(Path(path).stem.rsplit("_", 1)[-1])


def best_a(paths, a: dict[str, float]) -> str:
    """The path with the highest A score (the lowest set index on ties), as `generate.trials` keeps."""
    return max(paths, key=lambda p: (a[p], -set_index(p)))


def best_of_subsets(a: dict[str, float], b: dict[str, float], paths: list[str], size: int) -> float:
    """Mean over every `size`-subset of `paths` of the B score of the subset's best-A path."""
    if not 1 <= size <= len(paths):
        raise DilmError(f"--subsets {size}: a group has {len(paths)} sets")
    picks = [b[best_a(sub, a)] for sub in itertools.combinations(paths, size)]
    return sum(picks) / len(picks)


def compare(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]], group: int = 4,
            subsets: tuple[int, ...] = ()) -> dict:
    methods, pooled_a, pooled_b = {}, [], []
    for m in sorted(set(a) & set(b)):
        paths = sorted(set(a[m]) & set(b[m]))
        if len(paths) < 2:
            continue
        xa, xb = [a[m][p] for p in paths], [b[m][p] for p in paths]
        best = sorted(paths, key=lambda p: -a[m][p])[: len(paths) // 2]
        groups: dict[int, list[str]] = {}  # sets i // group: the candidates one pool file gave
        for p in paths:
            groups.setdefault(set_index(p) // group, []).append(p)
        winners = [best_a(g, a[m]) for g in groups.values()]
        methods[m] = {"sets": len(paths), "r": pearson(xa, xb), "mean_b": sum(xb) / len(xb),
                      "mean_b_of_best_a_half": sum(b[m][p] for p in best) / len(best),
                      f"mean_b_of_best_a_per_{group}": sum(b[m][p] for p in winners) / len(winners),
                      "b_of_best_a_per_group": [b[m][p] for p in winners], "best_a_per_group": winners,
                      "r_per_group": [pearson([a[m][p] for p in g], [b[m][p] for p in g]) if len(g) > 1 else None
                                      for g in groups.values()]}
        if subsets:  # per group, then averaged over the groups
            methods[m]["mean_b_of_best_a_of_m_subsets"] = {
                str(size): sum(best_of_subsets(a[m], b[m], g, size) for g in groups.values()) / len(groups)
                for size in subsets}
        if "+" not in m:  # a union repeats its methods' sets
            pooled_a += xa
            pooled_b += xb
    if not methods:
        raise DilmError("no method has 2 or more sets scored in both stores")
    return {"by_method": methods, "group": group, "pooled": {"sets": len(pooled_a), "r": pearson(pooled_a, pooled_b)}}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store_a")
    ap.add_argument("store_b")
    ap.add_argument("out")
    ap.add_argument("--group", type=int, default=4, help="sets i // GROUP came from one pool file")
    ap.add_argument("--union", nargs="*", default=[], metavar="A+B", help="also score methods A and B as one")
    ap.add_argument("--subsets", type=int, nargs="*", default=[], metavar="M",
                    help="B of the best-A set of M candidates, averaged over every M-subset of each group")
    args = ap.parse_args(argv)
    a, b = scores(args.store_a), scores(args.store_b)
    for spec in args.union:
        for side in (a, b):
            missing = [m for m in spec.split("+") if m not in side]
            if missing:
                raise DilmError(f"--union {spec}: no runs of {', '.join(missing)}")
            side[spec] = {p: x for m in spec.split("+") for p, x in side[m].items()}
    result = {"command": "python benchmarks/set_stability.py " + " ".join(argv), **compare(a, b, args.group, tuple(args.subsets))}
    write_json(Path(args.out), result)
    for m, c in result["by_method"].items():
        print(f"{m:<22} sets {c['sets']}  r {c['r']:+.2f}  B mean {c['mean_b']:.1f}  "
              f"B of the best-A half {c['mean_b_of_best_a_half']:.1f}  "
              f"B of the best A per group {c[f'mean_b_of_best_a_per_{args.group}']:.1f}"
              + "".join(f"  best A of {k}: B {v:.1f}" for k, v in c.get("mean_b_of_best_a_of_m_subsets", {}).items()))
    print(f"pooled: {result['pooled']['sets']} sets, r {result['pooled']['r']:+.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
