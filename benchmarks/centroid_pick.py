"""DPC 5: trial candidates whose class centroids classify real training rows. Sets for benchmarks/centroid_pick.sh.

`python benchmarks/centroid_pick.py OUT --pool POOL.jsonl [...] --seed S [...] [--chunks 4] [--probe-rows 1000]
[--passes 2] [--temperature 0.05]`

An exploratory look (outside the repo) suggested that a free proxy follows the learner's carve-out score
about as well as a second learner run does: the accuracy of a nearest-centroid classifier (cosine to each class's mean
embedding of the set, the learner's mean pooling, not trained) on the carve-out rows (docs/method.md). So
this script starts from the `cpu` preset's candidates (each pool file cut into `--chunks` parts of
oversample x 5 samples a class, posterior filter q = 0.6, herding of mean-pooled embeddings) and improves
each by local search: every pass tries, for each of the set's rows in turn, every other kept sample of its
class in that place, and keeps the swap that most raises the smoothed nearest-centroid score
`mean log softmax_c(cos(x, centroid_c) / T)` of `--probe-rows` training rows of >= 12 words. The probe
rows are drawn (seed 0) from train outside both carve-outs the sets are scored on (data.holdout=1000
data.holdout_min_words=12, seeds 0 and 1), so the score the sets are judged by never saw them.
Sets go to OUT/sets/sst2/centroid_mean_q0.6/dpc_5/set_<i>.jsonl, i = pool file x chunks + chunk (the
layout of benchmarks/pool_selection.py), and OUT/centroid_pick.json records the proxy before and after.
"""

import argparse
import datetime
import random
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.pool_selection import read_pool  # noqa: E402
from dilm.config import DataConfig, load_config  # noqa: E402
from dilm.data import Split, load_dataset, word_count  # noqa: E402
from dilm.errors import DilmError  # noqa: E402
from dilm.generate import most_confident, pick  # noqa: E402
from dilm.io import write_json, write_jsonl  # noqa: E402
from dilm.learner import load_learner  # noqa: E402
from dilm.precision_probe import resolve_precision  # noqa: E402
from dilm.refine import centroid_accuracy, centroid_score, local_search  # noqa: E402
from dilm.runtime import set_threads, setup_logging  # noqa: E402
from dilm.sets import set_row  # noqa: E402

CARVE_OUTS = (0, 1)  # the seeds of the A and B carve-outs


def probe_rows(train: Split, n: int, min_words: int) -> tuple[list, list[int]]:
    """n seeded rows of `train` (SST-2's whole train split) of >= min_words words outside both carve-outs."""
    held = set()
    for seed in CARVE_OUTS:
        held.update(load_dataset(DataConfig(dataset="sst2", holdout=1000, holdout_min_words=12), seed=seed)
                    .validation.texts)
    rows = [i for i, t in enumerate(train.texts) if word_count(t) >= min_words and t not in held]
    if len(rows) < n:
        raise DilmError(f"--probe-rows {n}: only {len(rows)} training rows qualify")
    idx = sorted(random.Random("centroid-probe-0").sample(rows, n))
    return [train.texts[i] for i in idx], [train.labels[i] for i in idx]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--pool", nargs="+", required=True)
    ap.add_argument("--seed", type=int, nargs="+", required=True, help="each pool's generation seed")
    ap.add_argument("--chunks", type=int, default=4)
    ap.add_argument("--probe-rows", type=int, default=1000)
    ap.add_argument("--probe-min-words", type=int, default=12)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--temperature", type=float, default=0.05)
    args = ap.parse_args(argv)
    if len(args.seed) != len(args.pool):
        raise DilmError(f"--seed: one per pool ({len(args.pool)}), got {len(args.seed)}")
    if args.temperature <= 0 or args.passes < 1:
        raise DilmError(f"--temperature must be > 0 and --passes >= 1, got {args.temperature} and {args.passes}")
    out = Path(args.out)
    if out.exists():
        raise DilmError(f"{out} exists; delete it or pick another OUT")
    setup_logging()
    set_threads()
    cfg = load_config("cpu")
    k, keep, size = 5, cfg.generate.posterior_keep, cfg.generate.oversample * 5
    data = load_dataset(DataConfig(dataset="sst2"))
    spec = data.spec
    learner = load_learner(cfg.model.learner, spec.num_classes, cfg.model.max_length,
                           resolve_precision(cfg.precision))
    texts, labels = probe_rows(data.train, args.probe_rows, args.probe_min_words)
    probe = torch.nn.functional.normalize(learner.embed(texts, "mean").float(), dim=-1)
    labels = torch.tensor(labels)
    sets, record = {}, []
    for p, (path, seed) in enumerate(zip(args.pool, args.seed)):
        classes = read_pool(path, spec.num_classes)
        emb = [learner.embed(t, "mean") for t, _ in classes]
        for j in range(min(args.chunks, min(len(t) for t, _ in classes) // size)):
            window = slice(j * size, (j + 1) * size)
            start = [pick(e[window], conf[window], k, size, keep, "herding", seed=seed)
                     for e, (_, conf) in zip(emb, classes)]
            kept = [most_confident(conf[window], max(k, round(keep * size))) for _, conf in classes]  # the filter
            pools = [torch.nn.functional.normalize(e[window][ix].float(), dim=-1) for e, ix in zip(emb, kept)]
            chosen = [[ix.index(s) for s in st] for ix, st in zip(kept, start)]
            before = [p[c] for p, c in zip(pools, chosen)]
            chosen = local_search(pools, chosen, probe, labels, args.temperature, args.passes)
            after = [p[c] for p, c in zip(pools, chosen)]
            f = out / "sets" / spec.name / "centroid_mean_q0.6" / "dpc_5" / f"set_{p * args.chunks + j}.jsonl"
            sets[f] = [set_row(spec, classes[c][0][j * size + kept[c][i]], c)
                       for c in range(spec.num_classes) for i in chosen[c]]
            record.append({"set": str(f), "pool": path, "part": j,
                           "changed": sum(kept[c][i] not in start[c] for c in range(len(chosen)) for i in chosen[c]),
                           "score_before": centroid_score(before, probe, labels, args.temperature),
                           "score_after": centroid_score(after, probe, labels, args.temperature),
                           "accuracy_before": centroid_accuracy(before, probe, labels),
                           "accuracy_after": centroid_accuracy(after, probe, labels)})
            print(f"{f.name} of {path}: {record[-1]['changed']} rows changed, probe accuracy "
                  f"{record[-1]['accuracy_before']:.1f} -> {record[-1]['accuracy_after']:.1f}", flush=True)
    for f, rows in sets.items():
        write_jsonl(f, rows)
    write_json(out / "centroid_pick.json", {
        "command": "python benchmarks/centroid_pick.py " + " ".join(argv),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "probe_rows": args.probe_rows, "probe_min_words": args.probe_min_words, "passes": args.passes,
        "temperature": args.temperature, "sets": record})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
