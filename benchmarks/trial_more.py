"""Best of M trial candidates when a generator has 8 of the preset's kind (benchmarks/trial_more.sh).

`python benchmarks/trial_more.py OUT.json --first A.sqlite B.sqlite --second A.sqlite B.sqlite
[--method herding_mean_q0.6] [--per-pool 4]`

Each pair of stores holds two scorings (A, B; different carve-outs and learner seeds) of DPC-5
candidate sets `set_<i>.jsonl` of one method, sets i // per_pool from the i // per_pool-th generator's
pool. The first pair scores the candidates of the generators' first pools, the second those of their
second pools. Per generator its candidates of both are pooled, and OUT.json gets, per M, the B score
of the best-A candidate averaged over every M-subset (benchmarks/set_stability.py's `best_of_subsets`),
and, for comparison, the same for the first pool's candidates alone.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.set_stability import best_of_subsets, pearson, scores, set_index  # noqa: E402
from dilm.errors import DilmError  # noqa: E402
from dilm.io import write_json  # noqa: E402


def by_generator(a: dict[str, float], b: dict[str, float], per_pool: int) -> dict[int, list[str]]:
    """{generator: paths scored in both} from sets i // per_pool."""
    out: dict[int, list[str]] = {}
    for p in sorted(set(a) & set(b), key=set_index):
        out.setdefault(set_index(p) // per_pool, []).append(p)
    return out


def pooled(first: tuple[dict, dict], second: tuple[dict, dict], per_pool: int, sizes: list[int]) -> dict:
    a = {**first[0], **second[0]}
    b = {**first[1], **second[1]}
    if len(a) != len(first[0]) + len(second[0]):
        raise DilmError("the first and second stores share set paths; they must be different sets")
    one, two = by_generator(*first, per_pool), by_generator(*second, per_pool)
    if set(one) != set(two):
        raise DilmError(f"generators {sorted(one)} in the first stores, {sorted(two)} in the second")
    groups = {g: one[g] + two[g] for g in one}
    result = {"candidates_per_generator": {str(g): len(p) for g, p in groups.items()},
              "r_a_b": pearson([a[p] for g in groups.values() for p in g], [b[p] for g in groups.values() for p in g]),
              "mean_b": {str(g): sum(b[p] for p in ps) / len(ps) for g, ps in groups.items()},
              "best_a_of_m": {}, "first_pool_only": {}}
    for m in sizes:
        result["best_a_of_m"][str(m)] = sum(best_of_subsets(a, b, ps, m) for ps in groups.values()) / len(groups)
        if m <= min(len(ps) for ps in one.values()):
            result["first_pool_only"][str(m)] = sum(best_of_subsets(a, b, ps, m) for ps in one.values()) / len(one)
    return result


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--first", nargs=2, required=True, metavar=("A", "B"))
    ap.add_argument("--second", nargs=2, required=True, metavar=("A", "B"))
    ap.add_argument("--method", default="herding_mean_q0.6")
    ap.add_argument("--per-pool", type=int, default=4)
    ap.add_argument("--subsets", type=int, nargs="+", default=[1, 2, 4, 8])
    args = ap.parse_args(argv)
    sides = []
    for store_a, store_b in (args.first, args.second):
        a, b = scores(store_a), scores(store_b)
        if args.method not in a or args.method not in b:
            raise DilmError(f"{store_a} / {store_b}: no runs of {args.method}")
        sides.append((a[args.method], b[args.method]))
    result = {"command": "python benchmarks/trial_more.py " + " ".join(argv), "method": args.method,
              **pooled(sides[0], sides[1], args.per_pool, args.subsets)}
    write_json(Path(args.out), result)
    print(f"r(A, B) {result['r_a_b']:.2f}; B of the best-A of M: "
          + ", ".join(f"M={m} {v:.1f}" for m, v in result["best_a_of_m"].items())
          + "; first pool only: " + ", ".join(f"M={m} {v:.1f}" for m, v in result["first_pool_only"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
