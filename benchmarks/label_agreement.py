"""Do generated texts belong to the class they were generated for? A diagnostic for the Table-1 analysis.

`python benchmarks/label_agreement.py OUT.json SET_DIR... [--dataset sst2]`: trains one reference
classifier (the learner, `minilm-l6`, on the dataset's whole training split: 300 steps x batch 64, about
a quarter epoch of SST-2, the paper's optimiser and schedule; benchmarks/reference.py, cached), reports
its validation accuracy, then
the share of each set's texts whose predicted class equals the label they carry. On real-data
sets (random, K-centers) this measures the reference classifier's own error. On generated
sets the extra disagreement is text that does not fit its class token.
"""

import argparse
import datetime
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.reference import accuracy, reference_classifier, settings  # noqa: E402
from dilm.config import DataConfig  # noqa: E402
from dilm.data import load_dataset  # noqa: E402
from dilm.io import write_json  # noqa: E402
from dilm.runtime import set_threads, setup_logging  # noqa: E402
from dilm.sets import describe_set, expand_set_paths, read_set  # noqa: E402


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("set_dirs", nargs="+")
    ap.add_argument("--dataset", default="sst2")
    args = ap.parse_args(argv)
    out, set_dirs = args.out, args.set_dirs
    setup_logging()
    set_threads()
    data = load_dataset(DataConfig(dataset=args.dataset))
    learner = reference_classifier(data)
    val_acc = accuracy(learner, data.validation.texts, data.validation.labels)
    per_method: dict[str, dict] = {}
    for path in expand_set_paths(set_dirs):
        info = describe_set(path)
        split = read_set(path, data.spec)
        got = learner.predict(split.texts)
        cell = per_method.setdefault(info.method, {}).setdefault(str(info.dpc), {"texts": 0, "agree": 0})
        cell["texts"] += len(got)
        cell["agree"] += sum(p == y for p, y in zip(got, split.labels))
    for cells in per_method.values():
        for cell in cells.values():
            cell["agreement_pct"] = 100 * cell["agree"] / cell["texts"]
    result = {"command": "python benchmarks/label_agreement.py " + " ".join(argv),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "reference": {**settings(data), "validation_accuracy_pct": val_acc},
              "agreement": per_method}
    write_json(Path(out), result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
