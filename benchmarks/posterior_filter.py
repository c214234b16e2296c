"""How much does the posterior filter (`generate.posterior_keep`) raise the label agreement of the sets?

`python benchmarks/posterior_filter.py OUT.json GENERATOR [--pool POOL.jsonl] [--keep 1 0.8 0.6 0.4 0.2]
[--seed S] [--top-p P]`

Samples one generation pool per class from GENERATOR (a dilm generator folder) with the `cpu`
preset's generation settings (100 x the largest DPC per class, top-p 0.95 or --top-p, seed 0 or --seed), or reads it
back from `--pool` when that file exists (it is written there otherwise). Every pool text gets the
generator's own posterior p(c | x) of its class and the reference classifier's prediction
(benchmarks/reference.py: a MiniLM trained on the whole training split; nothing here reads the
validation split, so `keep` may be chosen on these numbers). Then, for every share `keep`,
it builds each DPC's set as `dilm generate` does (the first 100 x DPC samples, the `keep` share
most confident, then the preset's selection, or --selection/--features) and reports the share of the set's
texts, and of the whole filtered pool, that the reference classifier puts in their class.
"""

import argparse
import dataclasses
import datetime
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.reference import accuracy, reference_classifier, settings  # noqa: E402
from dilm.conditioning import class_loglik  # noqa: E402
from dilm.config import DataConfig, load_config, selection_features  # noqa: E402
from dilm.data import load_dataset  # noqa: E402
from dilm.errors import DilmError  # noqa: E402
from dilm.generate import most_confident, normalise, own_posterior, pick, sample_pool  # noqa: E402
from dilm.generator import load_generator  # noqa: E402
from dilm.io import read_jsonl, write_json, write_jsonl  # noqa: E402
from dilm.learner import load_learner  # noqa: E402
from dilm.precision_probe import resolve_precision  # noqa: E402
from dilm.runtime import autocast, seed_everything, set_threads, setup_logging  # noqa: E402


def build_pool(generator: str, data, cfg, precision: str, seed: int) -> list[dict]:
    """Per class, 100 x max(DPC) samples with the generator's own posterior of their class."""
    spec = data.spec
    gen = load_generator(generator, spec.num_classes, spec.is_pair)
    rows = []
    seed_everything(seed)
    for c in range(spec.num_classes):
        texts, _ = sample_pool(gen, c, cfg.oversample * max(cfg.dpc), cfg, set(), precision, seed)
        with autocast(precision):
            post = own_posterior(class_loglik(gen, texts), c)
        rows += [{"label": c, "text": list(t), "own_posterior": p} for t, p in zip(texts, post.tolist())]
    return rows


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("generator")
    ap.add_argument("--pool", help="JSONL of the pool: read if it exists, else written")
    ap.add_argument("--keep", type=float, nargs="+", default=[1.0, 0.8, 0.6, 0.4, 0.2])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--selection", help="selection of the filtered pool (default: the cpu preset's generate.selection)")
    ap.add_argument("--features", help="learner features it sees (default: the cpu preset's)")
    ap.add_argument("--top-p", type=float, help="nucleus of the pool's sampling (default: the cpu preset's)")
    args = ap.parse_args(argv)
    setup_logging()
    set_threads()
    run_cfg = load_config("cpu")
    cfg = run_cfg.generate
    if args.top_p is not None:
        if not 0 < args.top_p <= 1:
            raise DilmError(f"--top-p must be in (0, 1], got {args.top_p}")
        cfg = dataclasses.replace(cfg, top_p=args.top_p)
    selection = args.selection or cfg.selection
    features = args.features or selection_features(run_cfg)
    precision = resolve_precision(run_cfg.precision)
    data = load_dataset(DataConfig(dataset=run_cfg.data.dataset))
    t0 = time.time()
    if args.pool and Path(args.pool).exists():
        pool = list(read_jsonl(Path(args.pool)))
    else:
        pool = build_pool(args.generator, data, cfg, precision, args.seed)
        if args.pool:
            write_jsonl(Path(args.pool), pool)
    sampled_s = time.time() - t0
    train_texts = {normalise(t) for t in data.train.texts}
    copies = sum(normalise(tuple(r["text"])) in train_texts for r in pool)
    reference = reference_classifier(data)
    texts = [tuple(r["text"]) for r in pool]
    predicted = reference.predict(texts)
    learner = load_learner(run_cfg.model.learner, data.spec.num_classes, run_cfg.model.max_length, precision)
    emb = learner.embed(texts, features)
    by_class = {c: [i for i, r in enumerate(pool) if r["label"] == c] for c in range(data.spec.num_classes)}
    results = {}
    for keep in args.keep:
        cells = {}
        for k in sorted(cfg.dpc):
            chosen, kept = [], []
            for c, idx in by_class.items():
                idx = idx[: cfg.oversample * k]
                conf = torch.tensor([pool[i]["own_posterior"] for i in idx])
                chosen += [idx[j] for j in pick(emb[idx], conf, k, len(idx), keep, selection, seed=args.seed)]
                kept += [idx[j] for j in most_confident(conf, max(k, round(keep * len(idx))))]
            agree = lambda ids: 100 * sum(predicted[i] == pool[i]["label"] for i in ids) / len(ids)  # noqa: E731
            cells[str(k)] = {"set_agreement_pct": agree(chosen), "set_texts": len(chosen),
                             "pool_agreement_pct": agree(kept), "pool_texts": len(kept)}
        results[str(keep)] = cells
    out = {"command": "python benchmarks/posterior_filter.py " + " ".join(argv),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "generator": args.generator, "seed": args.seed, "precision": precision,
           "selection": selection, "features": features,
           "pool_per_class": cfg.oversample * max(cfg.dpc), "pool_seconds": round(sampled_s, 1),
           "top_p": cfg.top_p, "pool_train_copies_pct": 100 * copies / len(pool),
           "reference": {**settings(data),
                         "validation_accuracy_pct": accuracy(reference, data.validation.texts, data.validation.labels)},
           "by_keep": results}
    write_json(Path(args.out), out)
    print(json.dumps(out["by_keep"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
