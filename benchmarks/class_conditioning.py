"""Does the class token steer the generator? The diagnostic behind the Table-1 analysis.

`python benchmarks/class_conditioning.py OUT.json DATASET GENERATOR_DIR... [--limit N]`

For each generator (a dilm generator folder, or a base model name, which gets fresh class
tokens from EOS; `name@label_names` starts them from the class names instead), writes:
- the cosine similarity between its class tokens' input embeddings (1 = indistinguishable);
- its accuracy as a generative classifier on the first N validation rows of DATASET
  (argmax over c of log p(x | <bos_c>)), beside the majority-class share of those rows.
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
from dilm.io import write_json  # noqa: E402
from dilm.models import resolve_model  # noqa: E402
from dilm.precision_probe import resolve_precision  # noqa: E402
from dilm.runtime import autocast, set_threads, setup_logging  # noqa: E402


def measure(source: str, data, limit: int) -> dict:
    name, _, init = source.partition("@")
    spec = data.spec
    names = spec.label_names if init == "label_names" else None
    gen = load_generator(resolve_model(name, "generator"), spec.num_classes, spec.is_pair, max_length=128,
                         init_names=names)
    texts, labels = data.validation.texts[:limit], data.validation.labels[:limit]
    t0 = time.time()
    with autocast("auto"):  # this machine's precision (bf16 where it is fast), recorded below
        ll = class_loglik(gen, texts)
    pred = ll.argmax(-1)
    cos = class_token_cosine(gen)
    off_diag = cos[~torch.eye(len(cos), dtype=torch.bool)]
    per_class = {spec.label_names[c]: int((pred == c).sum()) for c in range(spec.num_classes)}
    return {"generator": source, "rows": len(texts), "precision": resolve_precision("auto"),
            "generative_accuracy_pct": generative_accuracy(ll, labels),
            "predicted_per_class": per_class,
            "class_token_cosine_max": off_diag.max().item(), "class_token_cosine_mean": off_diag.mean().item(),
            "seconds": round(time.time() - t0, 1)}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("dataset")
    ap.add_argument("generators", nargs="+")
    ap.add_argument("--limit", type=int, default=300)
    args = ap.parse_args(argv)
    setup_logging()
    set_threads()
    data = load_dataset(DataConfig(dataset=args.dataset))
    labels = data.validation.labels[: args.limit]
    majority = max(labels.count(c) for c in set(labels))
    rows = [measure(g, data, args.limit) for g in args.generators]
    result = {"command": "python benchmarks/class_conditioning.py " + " ".join(argv),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": {"platform": platform.platform(), "torch": torch.__version__,
                          "transformers": transformers.__version__, "threads": torch.get_num_threads()},
              "dataset": args.dataset, "majority_class_pct": 100.0 * majority / len(labels),
              "generators": rows}
    write_json(Path(args.out), result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
