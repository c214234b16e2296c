"""How large is the LM term's gradient against the matching's? Sizes `distill.lm_weight`.

    python benchmarks/grad_norms.py OUT.json GENERATOR [--metrics NAME=distill_metrics.jsonl ...]
        [--preset cpu] [--batches 4] [--rows 16]

GENERATOR is a dilm generator folder (the pre-trained one that distillation starts from). The script
takes `--batches` seeded batches of `--rows` training rows of the preset's dataset and writes the
norm of the gradient of the pre-training LM loss (Eq. 1; `dilm.distill.lm_term`, weight 1) on each.
Each `--metrics` file (a distillation's distill_metrics.jsonl, run without an LM term) adds the
min / median / max of its steps' matching-gradient norms (before clipping).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

import torch

from dilm.config import load_config
from dilm.data import load_dataset
from dilm.distill import lm_term
from dilm.generator import load_generator
from dilm.io import write_json
from dilm.pipeline import machine


def lm_grad_norms(generator: str, preset: str, batches: int, rows: int) -> list[dict]:
    cfg = load_config(preset, ["precision=fp32"])
    dataset = load_dataset(cfg.data, cfg.seed)
    gen = load_generator(generator, dataset.spec.num_classes, dataset.spec.is_pair)
    train = dataset.train
    rng = random.Random(0)
    out = []
    for _ in range(batches):
        batch = rng.sample(range(len(train)), rows)
        gen.model.zero_grad(set_to_none=True)
        loss = lm_term(gen, [train.texts[i] for i in batch], [train.labels[i] for i in batch], 1.0, "fp32")
        norm = torch.nn.utils.clip_grad_norm_(gen.model.parameters(), float("inf"))
        out.append({"lm_loss": round(loss, 4), "grad_norm": round(float(norm), 4)})
    return out


def matching_norms(path: str) -> dict:
    norms = [json.loads(line)["grad_norm"] for line in Path(path).read_text().splitlines() if line.strip()]
    return {"steps": len(norms), "min": min(norms), "median": statistics.median(norms), "max": max(norms)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("generator")
    ap.add_argument("--metrics", action="append", default=[], metavar="NAME=FILE")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--rows", type=int, default=16)
    args = ap.parse_args()
    result = {"command": "python benchmarks/grad_norms.py " + " ".join(
                  [args.out, args.generator, *[f"--metrics {m}" for m in args.metrics],
                   "--preset", args.preset, "--batches", str(args.batches), "--rows", str(args.rows)]),
              "generator": args.generator, "rows": args.rows, "precision": "fp32",
              "lm_term": lm_grad_norms(args.generator, args.preset, args.batches, args.rows),
              "matching": {name: matching_norms(f) for name, f in (m.split("=", 1) for m in args.metrics)},
              "machine": machine()}
    print(json.dumps(result, indent=1))
    write_json(args.out, result)  # temp file, then rename
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
