"""`dilm evaluate`: train a fresh learner on each set with the paper's protocol and score it.

For every (set, learner, seed) not yet in the results store: restore the pre-trained
learner with a fresh head drawn from the seed, train it on the set (`TrainConfig`: AdamW
1e-4, weight decay 0.01, 50% linear warm-up then cosine, clip 1.0, 200 steps, batch
min(64, |D|), dropout on, the resolved precision), predict the validation split and store
the dataset's metric. Runs already stored are skipped, so a long evaluation resumes where it
stopped; each learner is loaded once and only if it has a run left to do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dilm import dist
from dilm.config import RunConfig
from dilm.data import DatasetSpec, Split, load_dataset
from dilm.errors import DilmError
from dilm.learner import Learner, TrainConfig, load_learner, train_learner
from dilm.metrics import scores
from dilm.precision_probe import resolve_precision, resolved_config
from dilm.runtime import seed_everything, set_threads
from dilm.sets import SetInfo, describe_set, read_sets
from dilm.store import (
    ResultStore,
    RunKey,
    RunRecord,
    file_hash,
    machine,
    protocol_fields,
    protocol_hash,
    versions,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LearnerSpec:
    """How to load a learner; `max_length` and `precision` are part of the protocol hash."""

    name: str
    max_length: int = 64
    precision: str = "auto"
    trust_remote_code: bool = False


@dataclass(frozen=True)
class EvalTask:
    """One run still to do."""

    info: SetInfo
    learner: LearnerSpec
    key: RunKey
    protocol: dict  # the fields its protocol hash covers


def plan_runs(sets: Sequence[SetInfo], learners: Sequence[LearnerSpec], seeds: Sequence[int],
              protocol: TrainConfig, store: ResultStore, scored_on: dict | None = None) -> tuple[list[EvalTask], int]:
    """Runs still to do (set-major, then learner, then seed) and the number already stored.

    `scored_on` (e.g. a train holdout) joins the protocol hash, so such runs never mix with
    runs scored on the validation split."""
    scored_on = scored_on or {}
    tasks, done = [], 0
    hashes = {info.path: file_hash(info.path) for info in sets}
    for info in sets:
        for spec in learners:
            extra = {"max_length": spec.max_length, "precision": resolve_precision(spec.precision), **scored_on}
            fields, proto = protocol_fields(protocol, **extra), protocol_hash(protocol, **extra)
            for seed in seeds:
                key = RunKey(hashes[info.path], spec.name, proto, seed)
                if store.has(key):
                    done += 1
                else:
                    tasks.append(EvalTask(info, spec, key, fields))
    return tasks, done


def run_one(learner: Learner, train: Split, validation: Split, spec: DatasetSpec, protocol: TrainConfig,
            seed: int) -> tuple[float, dict[str, float]]:
    """Train the (restored) learner on `train` from `seed` and score it on `validation`."""
    seed_everything(seed)
    learner.reset(seed)  # pre-trained encoder, fresh head from the seed
    train_learner(learner, train.texts, train.labels, protocol, seed)
    pred = learner.predict(validation.texts)
    return scores(spec.metric, pred, validation.labels, spec.num_classes)


def evaluate_sets(sets: Sequence[SetInfo | str | Path], learners: Sequence[LearnerSpec], seeds: Sequence[int],
                  spec: DatasetSpec, validation: Split, store: ResultStore,
                  protocol: TrainConfig | None = None, scored_on: dict | None = None) -> list[RunRecord]:
    """Train and score every (set, learner, seed) missing from `store`; return the new records.

    Under a launcher with several processes each process takes a round-robin share of the
    runs still to do (planned once, before any is stored) and writes its own records; the
    store's insert-once key means each run is stored exactly once.

    Args:
        sets: `SetInfo`s, or paths whose method and DPC are read from the path (`describe_set`).
    Raises:
        DilmError for an invalid set file (with file and line) before any training.
    """
    protocol = protocol or TrainConfig()
    sets = [s if isinstance(s, SetInfo) else describe_set(s) for s in sets]
    contents = read_sets(sets, spec)  # validate all before training
    tasks, done = plan_runs(sets, learners, seeds, protocol, store, scored_on)
    dist.barrier()  # every process has planned before any stores a run
    log.info("%d runs to do, %d already in %s", len(tasks), done, store.path)
    tasks = dist.shard(tasks)
    loaded: dict[str, Learner] = {}
    records = []
    for n, task in enumerate(tasks, start=1):
        ls = task.learner
        if ls.name not in loaded:  # loaded once, restored by reset() for every run
            loaded[ls.name] = load_learner(ls.name, spec.num_classes, ls.max_length, ls.precision,
                                           ls.trust_remote_code)
        t0 = time.time()
        score, values = run_one(loaded[ls.name], contents[task.info.path], validation, spec, protocol,
                                task.key.seed)
        record = RunRecord(task.key, spec.name, task.info.method, task.info.dpc, str(task.info.path),
                           spec.metric, score, values, task.protocol, round(time.time() - t0, 2),
                           versions=versions(), machine=machine())
        store.add(record)
        records.append(record)
        log.info("[%d/%d] %s (%s, dpc %d) learner %s seed %d: %s %.2f (%.1f s)", n, len(tasks),
                 task.info.path, task.info.method, task.info.dpc, ls.name, task.key.seed, spec.metric, score,
                 record.seconds)
    dist.barrier()  # a report after this sees every process's runs
    return records


def run_evaluate(cfg: RunConfig, sets: Sequence[SetInfo], learner_names: Sequence[str], runs: int,
                 store_path: str | Path, protocol: TrainConfig | None = None) -> list[RunRecord]:
    """The `dilm evaluate` workflow: the config's dataset gives the spec and the validation split;
    seeds are `cfg.seed + 0 .. runs - 1`."""
    if runs < 1:
        raise DilmError(f"--runs must be >= 1, got {runs}")
    set_threads()
    cfg = resolved_config(cfg)  # the store keys the resolved precision: bf16 and fp32 runs never pool
    dataset = load_dataset(cfg.data, cfg.seed)
    if dataset.validation is None:
        raise DilmError(f"dataset '{dataset.spec.name}' has no validation split to score on")
    m = cfg.model
    learners = [LearnerSpec(name, m.max_length, cfg.precision, m.trust_remote_code)
                for name in (learner_names or [m.learner])]
    seeds = [cfg.seed + i for i in range(runs)]
    scored_on = {"holdout": cfg.data.holdout, "holdout_seed": cfg.seed} if cfg.data.holdout else None
    if scored_on and cfg.data.holdout_min_words:  # only when set, so earlier carve-out runs keep their protocol
        scored_on["holdout_min_words"] = cfg.data.holdout_min_words
    with ResultStore(store_path) as store:
        return evaluate_sets(sets, learners, seeds, dataset.spec, dataset.validation, store, protocol, scored_on)
