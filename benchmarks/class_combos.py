"""Per-class combinations of trial candidates: could a pick per class beat a pick per set?

`python benchmarks/class_combos.py OUT --sets DIR --group 4`

DIR holds candidate sets `set_<i>.jsonl`; sets i // group came from one generation pool (the
candidates `generate.trials=group` would compare). For every group this writes each combination of
the candidates' per-class halves that is not itself a candidate (class c's rows from candidate
j_c; M^C - M of them for M candidates and C classes) as OUT/sets/set_<n>.jsonl, and OUT/combos.json
mapping every file to its group and (j_0, ..., j_C-1).

`python benchmarks/class_combos.py --summary OUT --candidates A.sqlite B.sqlite --combos A.sqlite B.sqlite`
then reads two scorings (A, B: different carve-outs and learner seeds, as benchmarks/set_stability.sh)
of the candidates and of the combinations and writes OUT/summary.json: per group, r(A, B) over all
its sets, the R² of an additive fit of the A scores (class-0 half + class-1 half; 2 classes), and the
B score of three picks by A: the best candidate (what `trials` keeps now), the best
of every combination and the one of one pass of coordinate ascent over the classes from the best
candidate: `generate.trial_by_class=all` and `=ascent` (dilm.trials.class_search; M^C and
M + C (M - 1) trial runs).
"""

import argparse
import itertools
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.set_stability import pearson, set_index  # noqa: E402
from benchmarks.set_stability import scores as method_scores  # noqa: E402
from dilm.errors import DilmError  # noqa: E402
from dilm.io import read_jsonl, write_json, write_jsonl  # noqa: E402
from dilm.metrics import summary  # noqa: E402
from dilm.trials import best, class_search  # noqa: E402


def combinations(num_candidates: int, num_classes: int) -> list[tuple[int, ...]]:
    """Every (j_0, ..., j_C-1) with j_c < num_candidates that is not one candidate (all j_c equal),
    in lexicographic order."""
    return [js for js in itertools.product(range(num_candidates), repeat=num_classes) if len(set(js)) > 1]


def combine(candidates: list[list[dict]], js: tuple[int, ...]) -> list[dict]:
    """Class c's rows of candidate js[c], class by class."""
    return [r for c, j in enumerate(js) for r in candidates[j] if r["label"] == c]


def write_combos(out: Path, sets_dir: Path, group: int) -> dict:
    files = sorted(sets_dir.glob("set_*.jsonl"), key=lambda p: set_index(p.name))
    if not files or len(files) % group:
        raise DilmError(f"{sets_dir}: {len(files)} set files, not a multiple of --group {group}")
    record, n = {}, 0
    for g in range(len(files) // group):
        candidates = [list(read_jsonl(f)) for f in files[g * group:(g + 1) * group]]
        num_classes = 1 + max(r["label"] for c in candidates for r in c)
        for js in combinations(group, num_classes):
            path = out / "sets" / f"set_{n}.jsonl"
            write_jsonl(path, combine(candidates, js))
            record[path.as_posix()] = {"group": g, "halves": list(js),
                                       "candidates": [files[g * group + j].as_posix() for j in js]}
            n += 1
    write_json(out / "combos.json", {"command": f"python benchmarks/class_combos.py {out} --sets {sets_dir} "
                                                f"--group {group}", "group": group, "sets": record})
    return record


def scores(store: str) -> dict[str, float]:
    """{set path: score} of a store with one run per set, whatever the method."""
    return {p: x for by_path in method_scores(store).values() for p, x in by_path.items()}


def additive_r2(scores: dict[tuple[int, int], float]) -> float:
    """R² of the two-way additive fit score(j0, j1) ~ mean + row(j0) + column(j1) over a full M x M table
    (the share of the spread that the two class halves explain on their own)."""
    rows, cols = sorted({k[0] for k in scores}), sorted({k[1] for k in scores})
    if len(scores) != len(rows) * len(cols) or len(rows) < 2 or len(cols) < 2:
        raise DilmError(f"additive_r2 needs a full table of >= 2 x 2 scores, got {len(scores)}")
    mean = sum(scores.values()) / len(scores)
    row = {i: sum(scores[i, j] for j in cols) / len(cols) - mean for i in rows}
    col = {j: sum(scores[i, j] for i in rows) / len(rows) - mean for j in cols}
    residual = sum((v - mean - row[i] - col[j]) ** 2 for (i, j), v in scores.items())
    total = sum((v - mean) ** 2 for v in scores.values())
    return 1 - residual / total if total else float("nan")


def summarise(out: Path, cand_a: str, cand_b: str, combo_a: str, combo_b: str) -> dict:
    combos = json.loads((out / "combos.json").read_text())
    ca, cb, xa, xb = scores(cand_a), scores(cand_b), scores(combo_a), scores(combo_b)
    groups: dict[int, dict[tuple[int, ...], dict]] = {}
    for path, c in combos["sets"].items():
        g = groups.setdefault(c["group"], {})
        g[tuple(c["halves"])] = {"set": path, "a": xa.get(path), "b": xb.get(path)}
        for j, cand in zip(c["halves"], c["candidates"]):
            g[(j,) * len(c["halves"])] = {"set": cand, "a": ca[cand], "b": cb[cand]}
    result = {}
    for g, by_halves in sorted(groups.items()):
        scored = {h: r for h, r in by_halves.items() if r["a"] is not None and r["b"] is not None}
        a = {h: r["a"] for h, r in scored.items()}
        own = sorted(h for h in a if len(set(h)) == 1)  # the candidates, (0, ..., 0) first
        best_cand = own[best([a[h] for h in own])]

        def lookup(choices: list[tuple[int, ...]]) -> list[float]:
            return [a[c] for c in choices]

        num_classes = len(best_cand)
        picks = {"candidate": best_cand,
                 "every_combination": class_search(len(own), num_classes, lookup, "all")[0],
                 "coordinate_ascent": class_search(len(own), num_classes, lookup, "ascent")[0]}
        result[str(g)] = {
            "scored": len(scored), "of": len(by_halves),
            "r_a_b": pearson([r["a"] for r in scored.values()], [r["b"] for r in scored.values()]),
            "mean_a": summary(list(a.values())).mean, "mean_b": summary([r["b"] for r in scored.values()]).mean,
            "max_b": max(r["b"] for r in scored.values()),
            "additive_r2_a": additive_r2(a) if num_classes == 2 and len(a) == len(own) ** 2 else None,
            "picks": {k: {"halves": list(h), "set": scored[h]["set"], "a": scored[h]["a"], "b": scored[h]["b"]}
                      for k, h in picks.items()}}
    means = {k: summary([g["picks"][k]["b"] for g in result.values()]).mean
             for k in ("candidate", "every_combination", "coordinate_ascent")}
    write_json(out / "summary.json", {"command": f"python benchmarks/class_combos.py --summary {out} --candidates "
                                                 f"{cand_a} {cand_b} --combos {combo_a} {combo_b}",
                                      "mean_b_of_pick": means, "groups": result})
    for g, s in result.items():
        print(f"group {g}: r(A,B) {s['r_a_b']:.2f}, mean B {s['mean_b']:.1f}, max B {s['max_b']:.1f}; " + "; ".join(
            f"{k} {p['halves']} A {p['a']:.1f} B {p['b']:.1f}" for k, p in s["picks"].items()))
    print("mean B of each pick:", {k: round(v, 2) for k, v in means.items()})
    return result


def main(argv: list[str]) -> int:
    if argv[:1] == ["--summary"]:
        ap = argparse.ArgumentParser(description="summary of the class-combination runs")
        ap.add_argument("out")
        ap.add_argument("--candidates", nargs=2, required=True)
        ap.add_argument("--combos", nargs=2, required=True)
        a = ap.parse_args(argv[1:])
        summarise(Path(a.out), *a.candidates, *a.combos)
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--sets", required=True)
    ap.add_argument("--group", type=int, default=4)
    a = ap.parse_args(argv)
    write_combos(Path(a.out), Path(a.sets), a.group)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
