"""Coreset baselines (paper Table 1): Random, K-centers and Herding sets of real training rows.

Per class, pick DPC rows of the training split: at random, as the rows nearest the
centroids of a K-means with k = DPC (K-centers), or by greedy mean matching (Herding).
K-centers and Herding work on the pre-trained learner's features: the [CLS] hidden state
(`cls`, the paper's choice) or the masked mean of the last hidden states (`mean`, how
sentence-transformers such as MiniLM were trained). Set i of R uses seed `seed + i`, so
random and K-centers sets differ; herding is deterministic (its R sets are identical).
Sets are written in the generated sets' JSONL format, to `<sets_dir>/dpc_<k>/set_<i>.jsonl`;
without `--sets-dir`, `<sets_dir>` is `<out>/sets/<label>`, a folder of the method's own beside
a run's generated `<out>/sets/dpc_<k>/`. `selection.json` in each `dpc_<k>/` records the method
and run that wrote the sets; sets of another method or run are never replaced (`dilm.owners`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from dilm.config import RunConfig, dump_config
from dilm.coreset import SELECTORS, select
from dilm.data import DatasetSpec, Split, load_dataset
from dilm.errors import DilmError, unknown_name
from dilm.features import embeddings
from dilm.io import write_json, write_jsonl, write_text
from dilm.learner import load_learner
from dilm.precision_probe import resolved_config
from dilm.owners import Writer, check_writable
from dilm.runtime import set_threads
from dilm.sets import SELECTION_FILE, set_row

log = logging.getLogger(__name__)

POOLINGS = ("mean", "cls")


@dataclass(frozen=True)
class CoresetPlan:
    """What to select: `method` at each DPC, `num_sets` sets, on `features` pooling."""

    method: str
    dpcs: tuple[int, ...]
    num_sets: int = 1
    features: str = "mean"
    seed: int = 0
    name: str | None = None  # the label results are filed under (default: see `label`)

    def __post_init__(self):
        if self.method not in SELECTORS:
            raise unknown_name("coreset method", self.method, SELECTORS)
        if self.features not in POOLINGS:
            raise unknown_name("feature pooling", self.features, POOLINGS)
        if not self.dpcs or any(k < 1 for k in self.dpcs):
            raise DilmError(f"DPC must be positive integers, got {list(self.dpcs)}")
        if self.num_sets < 1:
            raise DilmError(f"the number of sets must be >= 1, got {self.num_sets}")

    @property
    def label(self) -> str:
        """Method name results are filed under: `name` if given, else `random`, `kcenters_mean`, ..."""
        if self.name:
            return self.name
        return self.method if self.method == "random" else f"{self.method}_{self.features}"

    @property
    def needs_features(self) -> bool:
        return self.method != "random"


def check_class_sizes(split: Split, spec: DatasetSpec, dpc: int) -> list[list[int]]:
    """Row indices per class; DilmError naming the first class with fewer than `dpc` rows."""
    groups = split.by_class(spec.num_classes)
    for c, rows in enumerate(groups):
        if len(rows) < dpc:
            raise DilmError(f"class {c} ('{spec.label_names[c]}') has {len(rows)} training rows, "
                            f"fewer than DPC {dpc}")
    return groups


def select_per_class(plan: CoresetPlan, split: Split, spec: DatasetSpec, features: torch.Tensor | None,
                     dpc: int, index: int) -> list[int]:
    """Training-row indices of set `index` at `dpc`: DPC per class, classes in label order."""
    groups = check_class_sizes(split, spec, dpc)
    chosen: list[int] = []
    for rows in groups:
        # random ignores the features: an (n, 0) tensor carries the class size only
        x = features[rows] if features is not None else torch.empty(len(rows), 0)
        chosen += [rows[i] for i in select(plan.method, x, dpc, seed=plan.seed + index)]
    return chosen


def run_tag(cfg: RunConfig, plan: CoresetPlan) -> str:
    """Hash of what decides a coreset's rows: selector, seed, data and, when features are used, how."""
    what = {"selector": plan.method, "seed": plan.seed, "data": asdict(cfg.data)}
    if plan.needs_features:
        m = cfg.model
        what |= {"features": plan.features, "learner": m.learner, "max_length": m.max_length,
                 "precision": cfg.precision}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def set_paths(plan: CoresetPlan, sets_dir: Path) -> list[Path]:
    """Every set file of the plan (DPC-major, then set index)."""
    return [sets_dir / f"dpc_{k}" / f"set_{i}.jsonl" for k in plan.dpcs for i in range(plan.num_sets)]


def check_owner(plan: CoresetPlan, sets_dir: Path, run: str) -> None:
    """Refuse a sets folder holding sets another method or run wrote (see `dilm.owners`)."""
    check_writable(set_paths(plan, sets_dir), Writer(plan.label, run),
                   "give another --label or --sets-dir (or another --out)", whole_folder=True)


def write_coreset_sets(plan: CoresetPlan, split: Split, spec: DatasetSpec, features: torch.Tensor | None,
                       sets_dir: Path, run: str = "") -> list[Path]:
    """Write every set of the plan; return their paths (DPC-major, then set index).

    `run` (see `run_tag`) is recorded in each folder's selection.json, written before the sets."""
    for k in plan.dpcs:  # fail before writing anything
        check_class_sizes(split, spec, k)
    check_owner(plan, sets_dir, run)
    if plan.method == "herding" and plan.num_sets > 1:
        log.info("herding is deterministic: its %d sets per DPC are identical", plan.num_sets)
    for k in plan.dpcs:
        write_json(sets_dir / f"dpc_{k}" / SELECTION_FILE,
                   {"method": plan.label, "selector": plan.method, "features": plan.features,
                    "seed": plan.seed, "num_sets": plan.num_sets, "run": run})
    written = set_paths(plan, sets_dir)
    for path in written:
        k, index = int(path.parent.name.removeprefix("dpc_")), int(path.stem.removeprefix("set_"))
        rows = [set_row(spec, split.texts[i], split.labels[i])
                for i in select_per_class(plan, split, spec, features, k, index)]
        write_jsonl(path, rows)
        log.info("wrote %s (%d rows)", path, len(rows))
    return written


def run_coreset(cfg: RunConfig, plan: CoresetPlan, sets_dir: str | Path | None = None) -> list[Path]:
    """The `dilm coreset` workflow: load the training split (and the learner for features), write sets.

    Args:
        sets_dir: folder for `dpc_<k>/set_<i>.jsonl`; default `<cfg.out_dir>/sets/<plan.label>`.
    """
    set_threads()
    cfg = resolved_config(cfg)  # config.yaml beside the sets records bf16 or fp32
    sets_dir = Path(sets_dir) if sets_dir else Path(cfg.out_dir) / "sets" / plan.label
    run = run_tag(cfg, plan)
    check_owner(plan, sets_dir, run)  # before the features are computed
    dataset = load_dataset(cfg.data, cfg.seed)
    spec, train = dataset.spec, dataset.train
    for k in plan.dpcs:
        check_class_sizes(train, spec, k)
    features = None
    if plan.needs_features:
        m = cfg.model
        learner = load_learner(m.learner, spec.num_classes, m.max_length, cfg.precision, m.trust_remote_code)
        learner.reset(cfg.seed)
        features = embeddings(learner, m.learner, train.texts, plan.features)
    paths = write_coreset_sets(plan, train, spec, features, sets_dir, run)
    for k in plan.dpcs:
        write_text(sets_dir / f"dpc_{k}" / "config.yaml", dump_config(cfg))
    return paths
