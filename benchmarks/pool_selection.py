"""How should a set be picked from a generation pool? Sets for several selection variants.

`python benchmarks/pool_selection.py OUT --pool POOL.jsonl [POOL.jsonl ...] [--variant kcenters:mean:1 ...]`

Reads generation pools written by benchmarks/posterior_filter.py (per class, 100 x 20 samples of a
dilm generator, each with the generator's own posterior of its class) and writes, for every variant
`selection:features:keep` (selection: kcenters, herding or random; features: the learner's mean or
cls embedding; keep: the posterior filter's share, 1 = off; `herdtrain` is herding towards the mean
embedding of the class's real training rows, not the pool's: of train as carved by `--train-holdout N
--train-min-words W`, the carve-out the sets are scored on), sets as `dilm generate` would pick them:
at DPC k, the first 100 x k samples of a class are one i.i.d. pool, and `--chunks` disjoint pools of
that size are cut from each file, so DPC 5 gets up to 4 sets per pool file and DPC 20 one
(`--oversample 50 --chunks 8`: 8 pools of 50 x k at DPC 5, as `generate.trials=8` would cut them).
Sets go to OUT/sets/<dataset>/<variant>/dpc_<k>/set_<i>.jsonl, i = pool file x chunks + chunk, ready for
`dilm evaluate ... data.holdout=2000` (score on a carve-out of train, never on validation).

`python benchmarks/pool_selection.py --summary STORE OUT.json [--reference VARIANT]` then writes
mean ± std and n of every (variant, DPC) in STORE, with Welch's p against the reference variant.
"""

import argparse
import datetime
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dilm.config import DataConfig, load_config  # noqa: E402
from dilm.data import load_dataset  # noqa: E402
from dilm.errors import DilmError  # noqa: E402
from dilm.features import embeddings  # noqa: E402
from dilm.generate import pick  # noqa: E402
from dilm.io import read_jsonl, write_json, write_jsonl  # noqa: E402
from dilm.learner import load_learner  # noqa: E402
from dilm.metrics import summary, welch  # noqa: E402
from dilm.precision_probe import resolve_precision  # noqa: E402
from dilm.runtime import set_threads, setup_logging  # noqa: E402
from dilm.sets import set_row  # noqa: E402
from dilm.store import ResultStore  # noqa: E402


def read_pool(path: str, num_classes: int) -> list[tuple[list[tuple[str, ...]], torch.Tensor]]:
    """Each class's (texts, own posteriors) of a pool file, in sampling order."""
    rows = list(read_jsonl(Path(path)))
    by_class = [[r for r in rows if r["label"] == c] for c in range(num_classes)]
    return [([tuple(r["text"]) for r in cls_rows],
             torch.tensor([r["own_posterior"] for r in cls_rows], dtype=torch.float64)) for cls_rows in by_class]


def parse_variant(text: str) -> tuple[str, str, float]:
    parts = text.split(":")
    if len(parts) != 3 or parts[1] not in ("mean", "cls"):
        raise DilmError(f"--variant {text!r}: expected selection:features:keep, e.g. kcenters:mean:0.6")
    return parts[0], parts[1], float(parts[2])


def variant_name(selection: str, features: str, keep: float) -> str:
    return f"{selection}_{features}_q{keep:g}"


def summarise(store_path: str, out: str, reference: str) -> dict:
    """{dpc: {variant: {mean, std, n, p_vs_reference}}} of the runs in the store."""
    with ResultStore(store_path) as store:
        runs = store.query()
    if not runs:
        raise DilmError(f"{store_path}: no runs")
    scores: dict[int, dict[str, list[float]]] = {}
    for r in runs:
        scores.setdefault(r.dpc, {}).setdefault(r.method, []).append(r.score)
    cells = {}
    for k, by_method in sorted(scores.items()):
        ref = by_method.get(reference, [])
        cells[str(k)] = {m: {"mean": summary(v).mean, "std": summary(v).std, "n": len(v),
                             f"p_vs_{reference}": welch(v, ref) if (m != reference and ref) else None}
                         for m, v in sorted(by_method.items(), key=lambda kv: -summary(kv[1]).mean)}
    result = {"command": f"python benchmarks/pool_selection.py --summary {store_path} {out} --reference {reference}",
              "scored_on": runs[0].protocol_fields, "metric": runs[0].metric, "by_dpc": cells}
    write_json(Path(out), result)
    for k, by_method in cells.items():
        for m, c in by_method.items():
            print(f"DPC {k:>3} {m:<24} {c['mean']:.1f} ± {c['std']:.1f} (n={c['n']}) p={c[f'p_vs_{reference}']}")
    return result


def main(argv: list[str]) -> int:
    if argv[:1] == ["--summary"]:
        ap = argparse.ArgumentParser(description="summary of the runs on pool-selection sets")
        ap.add_argument("store")
        ap.add_argument("out")
        ap.add_argument("--reference", default="kcenters_mean_q1")
        a = ap.parse_args(argv[1:])
        summarise(a.store, a.out, a.reference)
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--pool", nargs="+", required=True)
    ap.add_argument("--variant", nargs="+", default=["kcenters:mean:1", "kcenters:mean:0.6"])
    ap.add_argument("--dpc", type=int, nargs="+", default=[5, 20])
    ap.add_argument("--chunks", type=int, default=4, help="disjoint pools per file and DPC, at most")
    ap.add_argument("--oversample", type=int, default=0,
                    help="samples per class and DPC in one pool (default: the cpu preset's generate.oversample)")
    ap.add_argument("--seed", type=int, nargs="+", default=[0],
                    help="selection seed (K-means, random) of each pool: its generation seed, as `dilm generate`")
    ap.add_argument("--train-holdout", type=int, default=0, help="herdtrain: train as carved by data.holdout=N")
    ap.add_argument("--train-min-words", type=int, default=0, help="herdtrain: ... and data.holdout_min_words=W")
    args = ap.parse_args(argv)
    setup_logging()
    set_threads()
    run_cfg = load_config("cpu")
    oversample = args.oversample or run_cfg.generate.oversample
    precision = resolve_precision(run_cfg.precision)
    data = load_dataset(DataConfig(dataset=run_cfg.data.dataset, holdout=args.train_holdout,
                                   holdout_min_words=args.train_min_words))
    spec = data.spec
    learner = load_learner(run_cfg.model.learner, spec.num_classes, run_cfg.model.max_length, precision)
    variants = [parse_variant(v) for v in args.variant]
    targets = {}  # features -> (classes, H): the mean embedding of each class's real training rows
    for f in {v[1] for v in variants if v[0] == "herdtrain"}:
        real = embeddings(learner, run_cfg.model.learner, data.train.texts, f)
        targets[f] = torch.stack([real[idx].float().mean(0) for idx in data.train.by_class(spec.num_classes)])
    out = Path(args.out)
    if len(args.seed) not in (1, len(args.pool)):
        raise DilmError(f"--seed: give one seed, or one per pool ({len(args.pool)})")
    seeds = args.seed * len(args.pool) if len(args.seed) == 1 else args.seed
    sets: dict[Path, list[dict]] = {}  # every class's rows of a set, written once at the end
    for p, path in enumerate(args.pool):
        for c, (texts, confidence) in enumerate(read_pool(path, spec.num_classes)):
            emb = {f: learner.embed(texts, f) for f in {v[1] for v in variants}}
            for k in args.dpc:
                size = oversample * k
                for j in range(min(args.chunks, len(texts) // size)):
                    window = slice(j * size, (j + 1) * size)
                    for selection, features, keep in variants:
                        target = targets[features][c] if selection == "herdtrain" else None
                        chosen = pick(emb[features][window], confidence[window], k, size, keep,
                                      "herding" if target is not None else selection, seed=seeds[p], target=target)
                        name = variant_name(selection, features, keep)
                        f = out / "sets" / spec.name / name / f"dpc_{k}" / f"set_{p * args.chunks + j}.jsonl"
                        sets.setdefault(f, []).extend(set_row(spec, texts[j * size + i], c) for i in chosen)
    for f, set_rows in sets.items():
        write_jsonl(f, set_rows)
    write_json(out / "pool_selection.json", {
        "command": "python benchmarks/pool_selection.py " + " ".join(argv),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "pools": args.pool, "variants": [variant_name(*v) for v in variants], "dpc": args.dpc,
        "chunks": args.chunks, "oversample": oversample, "seeds": seeds,
        "train": {"holdout": args.train_holdout, "holdout_min_words": args.train_min_words}})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
