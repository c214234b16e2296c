"""What the `cpu` preset's new set selection did on Table 1, and the text lengths behind it.

`python benchmarks/selection_effect.py OLD_STORE NEW_STORE OUT.json --sets DIR [DIR ...]`

For DiLM and the vanilla LM at every DPC: mean of the learner runs in OLD_STORE (Table 1 with
K-centers of the whole pool, commit e1ca1ad) and NEW_STORE (herding after the posterior filter),
the difference and Welch's p, and NEW_STORE's mean per set (set g: generator g). Then the word counts (median, mean, share of <= 5 words) of SST-2's
train and validation texts and of the DPC-5 sets under each DIR (`<method>/dpc_5/set_*.jsonl`).
"""

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dilm.config import DataConfig  # noqa: E402
from dilm.data import load_dataset  # noqa: E402
from dilm.io import read_jsonl, write_json  # noqa: E402
from dilm.metrics import summary, welch  # noqa: E402
from dilm.store import ResultStore  # noqa: E402


def words(texts) -> dict:
    n = [sum(len(part.split()) for part in t) for t in texts]
    return {"texts": len(n), "median_words": statistics.median(n), "mean_words": round(statistics.mean(n), 1),
            "share_5_words_or_fewer": round(sum(x <= 5 for x in n) / len(n), 3)}


def main(argv: list[str]) -> int:
    if len(argv) < 5 or argv[3] != "--sets":
        raise SystemExit(__doc__.splitlines()[2])
    old_path, new_path, out, dirs = argv[0], argv[1], argv[2], argv[4:]
    with ResultStore(old_path) as old, ResultStore(new_path) as new:
        effect = {}
        for method in ("dilm", "vanilla_lm"):
            for k in (5, 10, 20):
                runs = new.query(learner="minilm-l6", method=method, dpc=k)
                a = [r.score for r in old.query(learner="minilm-l6", method=method, dpc=k)]
                b = [r.score for r in runs]
                per_set = {Path(r.set_path).name: summary([x.score for x in runs if x.set_path == r.set_path]).mean
                           for r in runs}  # set_<g>: generator g
                both = bool(a and b)  # a cell one table lacks has no difference
                effect.setdefault(method, {})[str(k)] = {
                    "old_mean": summary(a).mean if a else None, "old_n": len(a),
                    "new_mean": summary(b).mean if b else None, "new_n": len(b), "new_per_set": per_set,
                    "difference": summary(b).mean - summary(a).mean if both else None,
                    "p_welch": welch(b, a) if both else None}
    data = load_dataset(DataConfig(dataset="sst2"))
    lengths = {"train": words(data.train.texts), "validation": words(data.validation.texts)}
    for d in dirs:
        for method_dir in sorted(Path(d).iterdir()):
            files = sorted((method_dir / "dpc_5").glob("set_*.jsonl"))
            if files:
                rows = [r for f in files for r in read_jsonl(f)]
                texts = [tuple(r[f] for f in data.spec.text_fields) for r in rows]
                lengths[f"{method_dir.as_posix()}/dpc_5"] = words(texts)
    result = {"command": "python benchmarks/selection_effect.py " + " ".join(argv), "old_store": old_path,
              "new_store": new_path, "effect": effect, "word_counts": lengths}
    write_json(Path(out), result)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
