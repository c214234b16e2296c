"""How often a generator leaves a sample unfinished (no EOS within the length limit).

`python benchmarks/unfinished_samples.py OUT.json GENERATOR [--checkpoint DISTILL_CKPT] [--n 16]
[--max-new-tokens 64]`

GENERATOR is a dilm generator folder (its classes and pair layout come from its metadata). Draws
top-p (0.95) samples per class, seeded, until `--n` are parseable, and writes the share of
draws that were dropped as unfinished or unparseable, with the first kept texts. `--checkpoint`
loads a gradient-matching checkpoint's generator weights (`<run>/checkpoints/distill/
generator.safetensors`) over GENERATOR, to look at a matching run that was stopped part-way.
"""

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_model

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dilm.generator import META_FILE, load_generator  # noqa: E402
from dilm.io import write_json  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("generator")
    ap.add_argument("--checkpoint")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    args = ap.parse_args()
    meta = json.loads((Path(args.generator) / META_FILE).read_text())
    gen = load_generator(args.generator, meta["num_classes"], meta["pair"], 64)
    if args.checkpoint:
        load_model(gen.model, args.checkpoint)
    per_class = {}
    for c in range(gen.num_classes):
        rng = torch.Generator().manual_seed(c)
        seqs, dropped = gen.sample(c, args.n, top_p=0.95, max_new_tokens=args.max_new_tokens,
                                   precision="fp32", rng=rng, max_dropped_ratio=10_000)
        per_class[c] = {"kept": len(seqs), "dropped": dropped,
                        "dropped_pct": round(100 * dropped / (dropped + len(seqs)), 1),
                        "first_texts": [" ||| ".join(gen.decode(s)) for s in seqs[:5]]}
        print(c, per_class[c]["dropped_pct"], flush=True)
    write_json(args.out, {"generator": args.generator, "checkpoint": args.checkpoint, "n": args.n,
                          "max_new_tokens": args.max_new_tokens, "per_class": per_class})


if __name__ == "__main__":
    main()
