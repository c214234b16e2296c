"""How strict should the posterior filter be at DPC 5? Summary of benchmarks/filter_strength.sh.

Also of benchmarks/top_p.sh, whose variants are top-p arms rather than keep shares.

`python benchmarks/filter_strength.py OUT.json --sets DIR [DIR ...] --a A.sqlite [--b B.sqlite]
[--variant herding_mean_q0.6 ...] [--reference herding_mean_q0.6] [--per-pool 4] [--kept DIR]`

Each DIR holds `<variant>/dpc_5/set_<i>.jsonl` (benchmarks/pool_selection.py's layout; set i comes from
pool file i // per_pool, so a pool file's `per_pool` sets are one generator pool's trial candidates). A
set's score is looked up by its file hash, so a variant whose set equals another variant's shares its
run. OUT.json gets, per variant, the A scores (the learner trained on the set, scored on a carve-out of
train), their paired difference from the reference variant over the same pool parts (paired t-test),
and, when B (a second carve-out and learner seed) is given, the B scores, Pearson's r between A and B,
and the B score of each pool's best-A set: what the trial pick `generate.trials` would keep, scored
without its own selection bias (both paired against the reference's), with `kept_sets`, their paths, and
`best_b`, each pool's highest B score: what a perfect pick would keep.
`--kept DIR` copies those sets to DIR/<variant>/dpc_5/set_<pool>.jsonl, ready for `dilm evaluate`.
`run_seconds` sums up both stores' runs.
"""

import argparse
import sys
from pathlib import Path

from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.set_stability import best_a, pearson, set_index  # noqa: E402
from dilm.errors import DilmError  # noqa: E402
from dilm.io import atomic_open, write_json  # noqa: E402
from dilm.metrics import summary  # noqa: E402
from dilm.store import ResultStore, file_hash  # noqa: E402


def store_runs(store: str) -> tuple[dict[str, float], list[float]]:
    """({set hash: score}, every run's seconds) of a store holding one run per set."""
    with ResultStore(store) as s:
        runs = s.query()
    if not runs:
        raise DilmError(f"{store}: no runs")
    return {r.key.set_hash: r.score for r in runs}, [r.seconds for r in runs]


def variant_sets(dirs: list[str], variant: str) -> list[Path]:
    """The variant's DPC-5 set files, pool by pool: DIR order, then set index."""
    out = []
    for d in dirs:
        files = sorted((Path(d) / variant / "dpc_5").glob("set_*.jsonl"), key=set_index)
        if not files:
            raise DilmError(f"{d}/{variant}/dpc_5: no set_*.jsonl")
        out.extend(files)
    return out


def lookup(files: list[Path], hashes: list[str], by_hash: dict[str, float], store: str) -> dict[str, float]:
    """{set path: score} of the files (`hashes`: their file hashes) from a store's {hash: score}."""
    missing = [str(f) for f, h in zip(files, hashes) if h not in by_hash]
    if missing:
        raise DilmError(f"{store}: no run for {len(missing)} set(s), e.g. {missing[0]}")
    return {str(f): by_hash[h] for f, h in zip(files, hashes)}


def pools_of(paths: list[str], per_pool: int) -> list[list[str]]:
    """`paths` (pool by pool) cut into each pool's `per_pool` sets."""
    if len(paths) % per_pool:
        raise DilmError(f"{len(paths)} sets: expected a multiple of {per_pool} (--per-pool)")
    return [paths[start:start + per_pool] for start in range(0, len(paths), per_pool)]


def copy_kept(kept: list[str], out: Path) -> None:
    """Copy the kept sets to out/set_<pool>.jsonl; an existing file must hold the same set."""
    for i, src in enumerate(kept):
        dst, data = out / f"set_{i}.jsonl", Path(src).read_bytes()
        if dst.exists():
            if dst.read_bytes() != data:
                raise DilmError(f"{dst} exists and holds another set than {src}; delete it or pick another --kept")
            continue
        with atomic_open(dst, "wb") as f:
            f.write(data)


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
    ap.add_argument("--kept", help="copy each variant's kept sets (the best-A set of each pool) under this folder")
    args = ap.parse_args(argv)
    if args.reference not in args.variant:
        raise DilmError(f"--reference {args.reference} is not among --variant {args.variant}")
    a_hash, seconds = store_runs(args.a)
    b_hash = None
    if args.b:
        b_hash, b_seconds = store_runs(args.b)
        seconds += b_seconds
    files = {v: variant_sets(args.sets, v) for v in args.variant}
    for v, fs in files.items():
        if len(fs) != len(files[args.reference]):
            raise DilmError(f"variant {v} has {len(fs)} sets, the reference {args.reference} "
                            f"{len(files[args.reference])}: the paired tests need the same pool parts")
    hashes = {v: [file_hash(f) for f in fs] for v, fs in files.items()}  # each file read once
    a = {v: lookup(files[v], hashes[v], a_hash, args.a) for v in args.variant}
    result = {"command": "python benchmarks/filter_strength.py " + " ".join(argv), "sets": args.sets,
              "per_pool": args.per_pool, "reference": args.reference,
              "run_seconds": {"runs": len(seconds), "min": min(seconds), "max": max(seconds), "total": sum(seconds)},
              "variants": {}}
    order = [args.reference] + [v for v in args.variant if v != args.reference]  # every other is compared with it
    for v in order:
        paths, scores_a = list(a[v]), list(a[v].values())
        pools = pools_of(paths, args.per_pool)
        kept_sets = [best_a(pool, a[v]) for pool in pools]  # ties as `generate.trials` keeps them
        if args.kept:
            copy_kept(kept_sets, Path(args.kept) / v / "dpc_5")
        cell = {"a": scores_a, "a_mean": summary(scores_a).mean, "a_std": summary(scores_a).std,
                "kept_sets": kept_sets,
                "same_sets_as_reference": sum(x == y for x, y in zip(hashes[v], hashes[args.reference])),
                **({} if v == args.reference else
                   {f"a_vs_{args.reference}": paired(scores_a, list(a[args.reference].values()))})}
        if b_hash is not None and all(h in b_hash for h in hashes[v]):
            b = lookup(files[v], hashes[v], b_hash, args.b)
            kept = [b[p] for p in kept_sets]
            best = [max(b[p] for p in pool) for pool in pools]
            scores_b = list(b.values())
            cell.update({"b": scores_b, "b_mean": summary(scores_b).mean, "b_std": summary(scores_b).std,
                         "r_a_b": pearson(scores_a, scores_b), "kept_b": kept, "kept_b_mean": summary(kept).mean,
                         "best_b": best, "best_b_mean": summary(best).mean})
            ref = result["variants"].get(args.reference, {})  # empty while v is the reference itself
            if "b" in ref:
                cell[f"b_vs_{args.reference}"] = paired(scores_b, ref["b"])
                cell[f"kept_b_vs_{args.reference}"] = paired(kept, ref["kept_b"])
        result["variants"][v] = cell
        extra = f", kept by A scores {cell['kept_b_mean']:.1f} on B" if "kept_b" in cell else ""
        print(f"{v:<20} A {cell['a_mean']:.1f} ± {cell['a_std']:.1f} (n={len(scores_a)}){extra}")
    write_json(Path(args.out), result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
