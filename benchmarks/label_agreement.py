"""Do generated texts belong to the class they were generated for? A diagnostic for the Table-1 analysis.

`python benchmarks/label_agreement.py OUT.json SET_DIR...`: trains one reference classifier
(the learner, `minilm-l6`, on the whole SST-2 training split: 300 steps x batch 64, about
a quarter epoch, the paper's optimiser and schedule), reports its validation accuracy, then
the share of each set's texts whose predicted class equals the label they carry. On real-data
sets (random, K-centers) this measures the reference classifier's own error. On generated
sets the extra disagreement is text that does not fit its class token.
"""

import datetime
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dilm.config import DataConfig  # noqa: E402
from dilm.data import load_dataset  # noqa: E402
from dilm.io import write_json  # noqa: E402
from dilm.learner import TrainConfig, load_learner, train_learner  # noqa: E402
from dilm.runtime import seed_everything, set_threads, setup_logging  # noqa: E402
from dilm.sets import describe_set, expand_set_paths, read_set  # noqa: E402

STEPS, BATCH, SEED = 300, 64, 0


def main(out: str, *set_dirs: str) -> int:
    setup_logging()
    set_threads()
    data = load_dataset(DataConfig(dataset="sst2"))
    learner = load_learner("minilm-l6", data.spec.num_classes)
    seed_everything(SEED)
    learner.reset(SEED)
    train_learner(learner, data.train.texts, data.train.labels, TrainConfig(steps=STEPS, batch_size=BATCH), SEED)
    pred = learner.predict(data.validation.texts)
    val_acc = 100 * sum(p == y for p, y in zip(pred, data.validation.labels)) / len(pred)
    per_method: dict[str, dict] = {}
    for path in expand_set_paths(list(set_dirs)):
        info = describe_set(path)
        split = read_set(path, data.spec)
        got = learner.predict(split.texts)
        cell = per_method.setdefault(info.method, {}).setdefault(str(info.dpc), {"texts": 0, "agree": 0})
        cell["texts"] += len(got)
        cell["agree"] += sum(p == y for p, y in zip(got, split.labels))
    for cells in per_method.values():
        for cell in cells.values():
            cell["agreement_pct"] = 100 * cell["agree"] / cell["texts"]
    result = {"command": "python benchmarks/label_agreement.py " + " ".join([out, *set_dirs]),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "reference": {"learner": "minilm-l6", "train_rows": len(data.train), "steps": STEPS, "batch": BATCH,
                            "seed": SEED, "validation_accuracy_pct": val_acc},
              "agreement": per_method}
    write_json(Path(out), result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
