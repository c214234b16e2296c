"""Does the class token steer the generator? The diagnostic behind the Table-1 analysis.

`python benchmarks/class_conditioning.py OUT.json DATASET GENERATOR... [--limit N] [--holdout H]`

For each generator, writes its accuracy as a generative classifier (argmax over c of
log p(x | prefix_c)) on the first N rows (`--limit 0`: all) of DATASET's validation split, or,
with `--holdout H`, of the H rows carved out of train by `data.holdout=H` (the rows to choose
settings on: a generator pre-trained with the same `data.holdout=H` never saw them), beside the
majority-class share of those rows; and, for the class-token layout, the cosine similarity
between its class tokens' input embeddings (1 = indistinguishable).

A GENERATOR is a dilm generator folder (it keeps its own layout), or a base model name with
an optional `@LAYOUT` (a `model.conditioning` value; default class_token from EOS) and
`@label_names` (class tokens from the class names): `smollm2-135m@instruction`.
"""

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import transformers  # noqa: E402

from dilm.conditioning import class_loglik, class_token_cosine, generative_accuracy  # noqa: E402
from dilm.config import DataConfig  # noqa: E402
from dilm.data import load_dataset  # noqa: E402
from dilm.generator import load_generator  # noqa: E402
from dilm.layout import LAYOUTS, Conditioning  # noqa: E402
from dilm.io import write_json  # noqa: E402
from dilm.models import resolve_model  # noqa: E402
from dilm.precision_probe import resolve_precision  # noqa: E402
from dilm.runtime import autocast, set_threads, setup_logging  # noqa: E402


def measure(source: str, data, limit: int, precision: str) -> dict:
    name, *options = source.split("@")
    spec = data.spec
    layout = next((o for o in options if o in LAYOUTS), "class_token")
    cond = Conditioning(layout, "label_names" if "label_names" in options else "eos", spec.label_names,
                        tuple(spec.instructions()))
    gen = load_generator(resolve_model(name, "generator"), spec.num_classes, spec.is_pair, max_length=128,
                         conditioning=cond)
    rows = data.validation
    texts, labels = (rows.texts[:limit], rows.labels[:limit]) if limit else (rows.texts, rows.labels)
    t0 = time.time()
    with autocast(precision):
        ll = class_loglik(gen, texts)
    pred = ll.argmax(-1)
    per_class = {spec.label_names[c]: int((pred == c).sum()) for c in range(spec.num_classes)}
    result = {"generator": source, "layout": gen.layout, "rows": len(texts),
              "generative_accuracy_pct": generative_accuracy(ll, labels), "predicted_per_class": per_class}
    if gen.layout == "class_token":
        cos = class_token_cosine(gen)
        off_diag = cos[~torch.eye(len(cos), dtype=torch.bool)]
        result.update(class_token_cosine_max=off_diag.max().item(), class_token_cosine_mean=off_diag.mean().item())
    else:
        result["prefix_example"] = gen.tokenizer.decode(gen.prefixes[-1])
    return {**result, "seconds": round(time.time() - t0, 1)}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("dataset")
    ap.add_argument("generators", nargs="+")
    ap.add_argument("--limit", type=int, default=300, help="score the first N rows (0 = all)")
    ap.add_argument("--holdout", type=int, default=0, help="score the data.holdout=H carve-out of train")
    ap.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    args = ap.parse_args(argv)
    setup_logging()
    set_threads()
    data = load_dataset(DataConfig(dataset=args.dataset, holdout=args.holdout))
    labels = data.validation.labels[: args.limit] if args.limit else data.validation.labels
    majority = max(labels.count(c) for c in set(labels))
    precision = resolve_precision(args.precision)  # auto: bf16 where this machine runs it fast
    rows = [measure(g, data, args.limit, precision) for g in args.generators]
    result = {"command": "python benchmarks/class_conditioning.py " + " ".join(argv),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": {"platform": platform.platform(), "torch": torch.__version__,
                          "transformers": transformers.__version__, "threads": torch.get_num_threads()},
              "dataset": args.dataset, "scored": f"holdout {args.holdout} of train" if args.holdout else "validation",
              "precision": precision, "majority_class_pct": 100.0 * majority / len(labels),
              "generators": rows}
    write_json(Path(args.out), result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
