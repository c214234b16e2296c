"""The reference classifier of the label diagnostics: one `minilm-l6` trained on a whole training split.

300 steps x batch 64 (about a quarter epoch of SST-2) with the paper's optimiser and schedule, seed 0;
87.5% on SST-2 validation. Trained once per (dataset, settings) and cached under the dilm cache
(`reference/<key>/model.safetensors`, written to a temporary name, then renamed), so several
diagnostics agree on one classifier without paying for it again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from safetensors.torch import load_model, save_model

from dilm.data import Dataset
from dilm.learner import Learner, TrainConfig, load_learner, train_learner
from dilm.models import cache_root
from dilm.runtime import seed_everything

STEPS, BATCH, SEED, LEARNER = 300, 64, 0, "minilm-l6"
log = logging.getLogger(__name__)


def settings(data: Dataset) -> dict:
    return {"learner": LEARNER, "dataset": data.spec.name, "train_rows": len(data.train),
            "steps": STEPS, "batch": BATCH, "seed": SEED}


def reference_classifier(data: Dataset) -> Learner:
    """The trained reference learner for `data`, from the cache when one was trained before."""
    info = settings(data)
    key = hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_root() / "reference" / key / "model.safetensors"
    learner = load_learner(LEARNER, data.spec.num_classes)
    if path.exists():
        load_model(learner.model, str(path))
        log.info("reference classifier: %s (cached)", path)
        return learner
    seed_everything(SEED)
    learner.reset(SEED)
    train_learner(learner, data.train.texts, data.train.labels, TrainConfig(steps=STEPS, batch_size=BATCH), SEED)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    save_model(learner.model, str(tmp))
    (path.parent / "settings.json").write_text(json.dumps(info, indent=1))
    os.replace(tmp, path)
    log.info("reference classifier: trained and cached in %s", path)
    return learner


def accuracy(learner: Learner, texts, labels) -> float:
    pred = learner.predict(texts)
    return 100 * sum(p == y for p, y in zip(pred, labels)) / len(pred)
