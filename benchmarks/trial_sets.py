"""The sets `generate.trials=M` would write, from generation pools already sampled.

`python benchmarks/trial_sets.py OUT --pool POOL.jsonl [...] --seed S [...] [--dpc 5 20] [--trials 4]
[--trial-rows 500] [--trial-min-words 12] [--name dilm_trials] [--set KEY=VALUE ...]`

Reads pools written by benchmarks/posterior_filter.py (Table 1's: each class's 2,000 samples of a
generator, in sampling order, with the generator's own posterior, so the same pools `dilm generate`
draws for that generator and seed) and runs the pipeline's own generation choice on them with the
`cpu` preset's settings: `choose_rows` (filter, then selection, from M disjoint parts of each
class's pool, and the trial runs of `dilm.trials`: the learner trained on each candidate, scored on a
seeded probe of SST-2's *training* rows; with `--set generate.trial_by_class=all` or `=ascent`, the
per-class pick; with `--set generate.refine=centroid`, each candidate refined first, dilm/refine.py).
Writes OUT/sets/sst2/<name>/dpc_<k>/set_<i>.jsonl (i: the pool's position; --set overrides more of the
preset, e.g. generate.features=mean) and OUT/trials.json with every candidate's probe score. Skips
sampling only: the rest is `generate_sets`' code path.
"""

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dilm.config import load_config, selection_features  # noqa: E402
from dilm.data import load_dataset  # noqa: E402
from dilm.generate import check_generation_rows, choose_rows  # noqa: E402
from benchmarks.pool_selection import read_pool  # noqa: E402
from dilm.io import write_json, write_jsonl  # noqa: E402
from dilm.learner import load_learner  # noqa: E402
from dilm.precision_probe import machine_key, resolve_precision  # noqa: E402
from dilm.runtime import set_threads, setup_logging  # noqa: E402
from dilm.refine import build_refiner  # noqa: E402


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--pool", nargs="+", required=True)
    ap.add_argument("--seed", type=int, nargs="+", required=True, help="each pool's generation seed")
    ap.add_argument("--dpc", type=int, nargs="+", default=[5, 20])
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--trial-rows", type=int, default=500)
    ap.add_argument("--trial-min-words", type=int, default=12)
    ap.add_argument("--name", default="dilm_trials", help="the method folder the sets go to")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="more overrides of the cpu preset")
    args = ap.parse_args(argv)
    setup_logging()
    set_threads()
    cfg = load_config("cpu", [f"generate.trials={args.trials}", f"generate.trial_rows={args.trial_rows}",
                              f"generate.trial_min_words={args.trial_min_words}", *args.set])
    gc = cfg.generate
    data = load_dataset(cfg.data)
    spec = data.spec
    learner = load_learner(cfg.model.learner, spec.num_classes, cfg.model.max_length, resolve_precision(cfg.precision))
    features = selection_features(cfg)
    out = Path(args.out)
    summary = out / "trials.json"
    earlier = json.loads(summary.read_text()) if summary.exists() else {}
    settings = {"trials": gc.trials, "trial_rows": gc.trial_rows, "trial_min_words": gc.trial_min_words,
                "features": features, "trial_by_class": gc.trial_by_class,
                "trial_by_class_dpc": gc.trial_by_class_dpc, "refine": gc.refine, "refine_rows": gc.refine_rows,
                "refine_min_words": gc.refine_min_words, "refine_passes": gc.refine_passes,
                "refine_temperature": gc.refine_temperature}
    # what a record older than the keys was made with
    absent = {"trial_by_class": "off", "trial_by_class_dpc": [], "refine": "off", "refine_rows": 1000,
              "refine_min_words": 12, "refine_passes": 2, "refine_temperature": 0.05}
    for key, value in settings.items():
        if earlier and earlier.get(key, absent.get(key, value)) != value:
            raise SystemExit(f"{summary}: written with {key}={earlier.get(key, absent.get(key))!r}, "
                             f"not {value!r}; use another OUT")
    record = earlier.get("sets", {})
    commands = earlier.get("commands", [earlier["command"]] if "command" in earlier else [])
    wrote = False
    for i, (path, seed) in enumerate(zip(args.pool, args.seed, strict=True)):
        files = {k: out / "sets" / spec.name / args.name / f"dpc_{k}" / f"set_{i}.jsonl" for k in args.dpc}
        todo = [k for k, f in files.items() if f.as_posix() not in record or not f.exists()]
        if not todo:
            continue  # resumable: every set of this pool is already written
        learner.reset(seed)  # selection features from the pre-trained encoder, as run_generate
        pools = [(texts, learner.embed(texts, features), confidence)
                 for texts, confidence in read_pool(path, spec.num_classes)]
        probe = check_generation_rows(gc, spec, data.train, seed)[0]  # as generate_sets (set 0; None if trials=1)
        refiner = build_refiner(gc.refine, data.train, gc.refine_rows, gc.refine_min_words, gc.refine_temperature,
                                gc.refine_passes, learner, features, seed, exclude=probe)  # as generate_sets
        wrote = True
        for k in todo:
            t0 = time.time()
            rows, trial = choose_rows(pools, spec, gc, k, seed, learner, probe, refiner)
            f = files[k]
            write_jsonl(f, rows)
            record[f.as_posix()] = {"pool": path, "seed": seed, **trial, "seconds": round(time.time() - t0, 1)}
            pick = (f"probe scores {' / '.join(f'{x:.1f}' for x in trial['probe_scores'])}, kept "
                    f"{trial.get('halves', trial['chosen'])}" if trial else "one candidate (no trial pick)")
            print(f"{f}: {pick}, {time.time() - t0:.0f} s", flush=True)
    if not wrote:  # a rerun that finds every set written leaves the record as it was
        return 0
    write_json(summary, {
        "commands": [*commands, "python benchmarks/trial_sets.py " + " ".join(argv)],
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_key(), **settings, "sets": record})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
