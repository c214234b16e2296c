"""How strict should the posterior filter be at DPC 5? Summary of benchmarks/filter_strength.sh.

`python benchmarks/filter_strength.py OUT.json --sets DIR [DIR ...] --a A.sqlite [--b B.sqlite]
[--variant herding_mean_q0.6 ...] [--reference herding_mean_q0.6] [--per-pool 4]`

Each DIR holds `<variant>/dpc_5/set_<i>.jsonl` (benchmarks/pool_selection.py's layout; set i comes from
pool file i // per_pool, so a pool file's `per_pool` sets are one generator pool's trial candidates). A
set's score is looked up by its file hash, so a variant whose set equals another variant's shares its
run. OUT.json gets, per variant, the A scores (the learner trained on the set, scored on a carve-out of
train), their paired difference from the reference variant over the same pool parts (paired t-test),
and, when B (a second carve-out and learner seed) is given, the B score of each pool's best-A set: what
the trial pick `generate.trials` would keep, scored without its own selection bias.
"""

import argparse
import sys
from pathlib import Path

from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dilm.errors import DilmError  # noqa: E402
from dilm.io import write_json  # noqa: E402
from dilm.metrics import summary  # noqa: E402
from dilm.store import ResultStore, file_hash  # noqa: E402


def scores_by_hash(store: str) -> dict[str, float]:
    """{set hash: score} of a store holding one run per set."""
    with ResultStore(store) as s:
        runs = s.query()
    if not runs:
        raise DilmError(f"{store}: no runs")
    return {r.key.set_hash: r.score for r in runs}


def variant_sets(dirs: list[str], variant: str) -> list[Path]:
    """The variant's DPC-5 set files, pool by pool: DIR order, then set index."""
    out = []
    for d in dirs:
        files = sorted((Path(d) / variant / "dpc_5").glob("set_*.jsonl"), key=lambda p: int(p.stem.split("_")[1]))
        if not files:
            raise DilmError(f"{d}/{variant}/dpc_5: no set_*.jsonl")
        out.extend(files)
    return out


def lookup(files: list[Path], by_hash: dict[str, float], store: str) -> list[float]:
    missing = [str(f) for f in files if file_hash(f) not in by_hash]
    if missing:
        raise DilmError(f"{store}: no run for {len(missing)} set(s), e.g. {missing[0]}")
    return [by_hash[file_hash(f)] for f in files]


def best_of_pools(a: list[float], b: list[float], per_pool: int) -> list[float]:
    """B score of each pool's best-A set (lowest index on ties, as `generate.trials` keeps)."""
    if len(a) != len(b) or len(a) % per_pool:
        raise DilmError(f"{len(a)} A and {len(b)} B scores: expected equal counts, a multiple of {per_pool}")
    out = []
    for start in range(0, len(a), per_pool):
        idx = max(range(start, start + per_pool), key=lambda i: (a[i], -i))
        out.append(b[idx])
    return out


def paired(x: list[float], ref: list[float]) -> dict:
    diff = [u - v for u, v in zip(x, ref)]
    same = all(d == 0 for d in diff)
    return {"mean_diff": sum(diff) / len(diff), "p_paired": None if same else float(stats.ttest_rel(x, ref).pvalue)}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--sets", nargs="+", required=True)
    ap.add_argument("--a", required=True)
    ap.add_argument("--b")
    ap.add_argument("--variant", nargs="+", default=["herding_mean_q0.6", "herding_mean_q0.4", "herding_mean_q0.2"])
    ap.add_argument("--reference", default="herding_mean_q0.6")
    ap.add_argument("--per-pool", type=int, default=4)
    args = ap.parse_args(argv)
    if args.reference not in args.variant:
        raise DilmError(f"--reference {args.reference} is not among --variant {args.variant}")
    a_hash = scores_by_hash(args.a)
    b_hash = scores_by_hash(args.b) if args.b else None
    files = {v: variant_sets(args.sets, v) for v in args.variant}
    a = {v: lookup(f, a_hash, args.a) for v, f in files.items()}
    result = {"command": "python benchmarks/filter_strength.py " + " ".join(argv), "sets": args.sets,
              "per_pool": args.per_pool, "reference": args.reference, "variants": {}}
    for v in args.variant:
        cell = {"a": a[v], "a_mean": summary(a[v]).mean, "a_std": summary(a[v]).std,
                "same_sets_as_reference": sum(file_hash(x) == file_hash(y)
                                              for x, y in zip(files[v], files[args.reference])),
                **({} if v == args.reference else {f"a_vs_{args.reference}": paired(a[v], a[args.reference])})}
        if b_hash is not None and all(file_hash(f) in b_hash for f in files[v]):
            b = lookup(files[v], b_hash, args.b)
            kept = best_of_pools(a[v], b, args.per_pool)
            cell.update({"b": b, "b_mean": summary(b).mean, "kept_b": kept, "kept_b_mean": summary(kept).mean})
        result["variants"][v] = cell
        extra = f", kept by A scores {cell['kept_b_mean']:.1f} on B" if "kept_b" in cell else ""
        print(f"{v:<20} A {cell['a_mean']:.1f} ± {cell['a_std']:.1f} (n={len(a[v])}){extra}")
    write_json(Path(args.out), result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
