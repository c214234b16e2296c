"""How big should each trial candidate's pool be at DPC 5? Summary of benchmarks/pool_size.sh.

Also of benchmarks/centroid_pick.sh, whose cut is another pick from the preset's pool parts.

`python benchmarks/pool_size.py OUT.json --cut NAME:PER_POOL:DIR[,DIR ...] [--cut ...] --a A.sqlite [...]
--b B.sqlite [...] [--reference NAME]`

A cut is one way of making trial candidates from the same generation pools: PER_POOL candidates a pool
(the `cpu` preset's: 4 of 500 samples). Each DIR holds `dpc_5/set_<i>.jsonl`; over a cut's DIRs in order,
set i comes from pool i // PER_POOL, and every cut must list the same pools in the same order. A set's
scores are looked up by its file hash in the A stores (a carve-out of train, learner seed 0) and the B
stores (another carve-out and seed); each store holds one run a set, and a set scored in two stores of a
kind must score the same there. OUT.json gets, per cut: the A and B scores, each pool's mean candidate on
B, the B score of each pool's best-A candidate (the set `generate.trials` keeps; the only candidate when
PER_POOL is 1), its highest B (a perfect pick), Pearson's r(A, B) where a cut has two candidates or more,
the seconds of the runs it reads and, against the reference cut, the paired differences over the pools.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.filter_strength import lookup, paired, pools_of  # noqa: E402
from benchmarks.set_stability import best_a, pearson, set_index  # noqa: E402
from dilm.errors import DilmError  # noqa: E402
from dilm.io import write_json  # noqa: E402
from dilm.metrics import summary  # noqa: E402
from dilm.store import ResultStore, file_hash  # noqa: E402


def parse_cut(text: str) -> tuple[str, int, list[str]]:
    """NAME:PER_POOL:DIR[,DIR ...] -> (name, per_pool, dirs)."""
    parts = text.split(":", 2)
    if len(parts) != 3 or not parts[0] or not parts[2] or not parts[1].isdigit() or int(parts[1]) < 1:
        raise DilmError(f"--cut {text!r}: expected NAME:PER_POOL:DIR[,DIR ...] with PER_POOL >= 1")
    return parts[0], int(parts[1]), parts[2].split(",")


def cut_sets(dirs: list[str]) -> list[Path]:
    """The DPC-5 set files of a cut: DIR order, then set index."""
    out = []
    for d in dirs:
        files = sorted((Path(d) / "dpc_5").glob("set_*.jsonl"), key=set_index)
        if not files:
            raise DilmError(f"{d}/dpc_5: no set_*.jsonl")
        out.extend(files)
    return out


def merged_runs(stores: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """({set hash: score}, {set hash: the run's seconds}) over several stores holding one run a set; a set
    scored in two stores must have the same score there."""
    scores, seconds = {}, {}
    for store in stores:
        with ResultStore(store) as s:
            runs = s.query()
        if not runs:
            raise DilmError(f"{store}: no runs")
        for r in runs:
            h = r.key.set_hash
            if h in scores and scores[h] != r.score:
                raise DilmError(f"{store}: set {h[:12]} scores {r.score}, another store {scores[h]}")
            scores[h], seconds[h] = r.score, r.seconds
    return scores, seconds


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--cut", action="append", required=True, type=parse_cut)
    ap.add_argument("--a", nargs="+", required=True)
    ap.add_argument("--b", nargs="+", required=True)
    ap.add_argument("--reference", help="the cut every other is compared with (default: the first)")
    args = ap.parse_args(argv)
    names = [name for name, _, _ in args.cut]
    if len(set(names)) != len(names):
        raise DilmError(f"--cut names repeat: {names}")
    reference = args.reference or names[0]
    if reference not in names:
        raise DilmError(f"--reference {reference} is not among the cuts {names}")
    a_hash, a_seconds = merged_runs(args.a)
    b_hash, b_seconds = merged_runs(args.b)
    result = {"command": "python benchmarks/pool_size.py " + " ".join(argv), "reference": reference, "cuts": {}}
    order = sorted(args.cut, key=lambda cut: cut[0] != reference)  # the reference first
    for name, per_pool, dirs in order:
        files = cut_sets(dirs)
        hashes = [file_hash(f) for f in files]
        a = lookup(files, hashes, a_hash, "the A stores")
        b = lookup(files, hashes, b_hash, "the B stores")
        pools = pools_of(list(a), per_pool)
        kept = [b[best_a(pool, a)] for pool in pools]
        pool_b = [mean([b[p] for p in pool]) for pool in pools]
        scores_a, scores_b = list(a.values()), list(b.values())
        cell = {"per_pool": per_pool, "pools": len(pools), "sets": [str(f) for f in files],
                "a": scores_a, "a_mean": mean(scores_a), "b": scores_b, "b_mean": mean(scores_b),
                "b_std": summary(scores_b).std if len(scores_b) > 1 else None,
                "pool_b": pool_b, "kept_sets": [best_a(pool, a) for pool in pools], "kept_b": kept,
                "kept_b_mean": mean(kept), "best_b": [max(b[p] for p in pool) for pool in pools],
                "r_a_b": pearson(scores_a, scores_b) if per_pool > 1 else None,
                "run_seconds": sum(a_seconds[h] + b_seconds[h] for h in hashes)}
        ref = result["cuts"].get(reference)
        if ref is not None:
            if len(pools) != ref["pools"]:
                raise DilmError(f"cut {name} has {len(pools)} pools, the reference {reference} {ref['pools']}")
            cell[f"pool_b_vs_{reference}"] = paired(pool_b, ref["pool_b"])
            cell[f"kept_b_vs_{reference}"] = paired(kept, ref["kept_b"])
        result["cuts"][name] = cell
        print(f"{name:<8} {per_pool} a pool: A {cell['a_mean']:.1f}, B {cell['b_mean']:.1f}, "
              f"kept {cell['kept_b_mean']:.1f} on B (pools: {', '.join(f'{x:.1f}' for x in kept)})")
    write_json(Path(args.out), result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
