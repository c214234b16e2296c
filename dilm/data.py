"""Dataset specs and loading: built-in specs, local JSONL/CSV/TSV folders, HF hub fallback.

A dataset is a declarative `DatasetSpec`; loading returns `Split`s of plain Python
lists, validated row by row so that a bad file fails with its name and line number.
"""

from __future__ import annotations

import csv
import json
import os
import random
from dataclasses import dataclass, replace
from pathlib import Path

from dilm.config import DataConfig
from dilm.errors import DilmError, did_you_mean, unknown_name
from dilm.layout import DEFAULT_DESCRIPTION, DEFAULT_INSTRUCTION, DEFAULT_PAIR_INSTRUCTION, instructions

DATA_ENV = "DILM_DATA"
SPLIT_FILES = ("train", "validation")
EXTENSIONS = (".jsonl", ".json", ".csv", ".tsv")


@dataclass(frozen=True)
class DatasetSpec:
    """What a text-classification dataset is: where it lives and what its fields mean."""

    name: str
    text_fields: tuple[str, ...]
    label_names: tuple[str, ...]
    label_field: str = "label"
    metric: str = "accuracy"  # "accuracy", "f1", "macro_f1" or "accuracy_f1"
    hub: tuple[str, ...] | None = None  # load_dataset(*hub) fallback
    local: bool = True  # has a folder under the shared data root
    validation_split: str = "validation"
    description: str = DEFAULT_DESCRIPTION  # what one example is ("movie review"), for the instruction
    instruction: str | None = None  # template with {label} (and {description}); None = the default

    def instructions(self) -> list[str]:
        """The generator's instruction for each class (instruction layouts)."""
        default = DEFAULT_PAIR_INSTRUCTION if self.is_pair else DEFAULT_INSTRUCTION
        return instructions(self.instruction or default, self.description, self.label_names)

    @property
    def is_pair(self) -> bool:
        return len(self.text_fields) == 2

    @property
    def num_classes(self) -> int:
        return len(self.label_names)


DATASETS: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    if spec.name in DATASETS:
        raise ValueError(f"dataset '{spec.name}' registered twice")
    DATASETS[spec.name] = spec
    return spec


register(DatasetSpec("sst2", ("sentence",), ("negative", "positive"), hub=("glue", "sst2"),
                     description="movie review", instruction="Write a {label} {description}."))
register(DatasetSpec("mrpc", ("sentence1", "sentence2"), ("not_equivalent", "equivalent"),
                     metric="accuracy_f1", hub=("glue", "mrpc"), description="news sentence",
                     instruction="Write two {description}s, one per line, whose meanings are {label}."))
register(DatasetSpec("ag_news", ("text",), ("World", "Sports", "Business", "Sci/Tech"),
                     hub=("fancyzhx/ag_news",), validation_split="test", description="news article",
                     instruction="Write a {description} about {label}."))
register(DatasetSpec("emotion", ("text",), ("anger", "joy", "optimism", "sadness"),
                     metric="macro_f1", hub=("cardiffnlp/tweet_eval", "emotion"), description="tweet",
                     instruction="Write a {description} that expresses {label}."))
register(DatasetSpec("qqp", ("question1", "question2"), ("not_duplicate", "duplicate"),
                     metric="accuracy_f1", hub=("glue", "qqp"), local=False, description="Quora question",
                     instruction="Write two {description}s, one per line, that are {label}s."))
register(DatasetSpec("mnli", ("premise", "hypothesis"), ("entailment", "neutral", "contradiction"),
                     hub=("glue", "mnli"), local=False, validation_split="validation_matched",
                     description="premise and hypothesis",
                     instruction="Write a {description}, one per line, whose relation is {label}."))


@dataclass
class Split:
    """One split: `texts[i]` is a tuple with one entry per text field."""

    texts: list[tuple[str, ...]]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.labels)

    def by_class(self, num_classes: int) -> list[list[int]]:
        """Indices of the rows of each class."""
        groups: list[list[int]] = [[] for _ in range(num_classes)]
        for i, y in enumerate(self.labels):
            groups[y].append(i)
        return groups


@dataclass
class Dataset:
    spec: DatasetSpec
    train: Split
    validation: Split | None


def data_root() -> Path:
    """Folder holding the built-in datasets: $DILM_DATA, else ../shared/data beside the repo."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def resolve_spec(cfg: DataConfig) -> tuple[DatasetSpec, Path | None]:
    """Return the spec and the local folder (None = use the hub) for a data config."""
    name = cfg.dataset
    folder: Path | None = None
    if name in DATASETS:
        spec = DATASETS[name]
        if spec.local and (data_root() / name).is_dir():
            folder = data_root() / name
    elif Path(name).is_dir():
        folder = Path(name)
        spec = _spec_from_folder(folder, cfg)
    else:
        raise unknown_name("dataset", name, DATASETS) if "/" not in name else DilmError(
            f"dataset folder not found: {name}")
    changes = {}
    if cfg.text_fields:
        changes["text_fields"] = tuple(cfg.text_fields)
    if cfg.label_field:
        changes["label_field"] = cfg.label_field
    if cfg.label_names:
        changes["label_names"] = tuple(cfg.label_names)
    if cfg.description:
        changes["description"] = cfg.description
    if cfg.instruction:
        changes["instruction"] = cfg.instruction
    spec = replace(spec, **changes)
    spec.instructions()  # a bad template fails here, not after pre-training
    if len(spec.text_fields) not in (1, 2):
        raise DilmError(f"dataset '{name}': text_fields must name 1 or 2 fields, got {list(spec.text_fields)}")
    if len(spec.label_names) < 2:
        raise DilmError(f"dataset '{name}': at least 2 label names are needed, got {list(spec.label_names)}")
    return spec, folder


def _spec_from_folder(folder: Path, cfg: DataConfig) -> DatasetSpec:
    """A user's folder: info.json if present, else the config's fields."""
    info = {}
    if (folder / "info.json").exists():
        info = json.loads((folder / "info.json").read_text(encoding="utf-8"))
    text_fields = cfg.text_fields or info.get("text_fields")
    label_names = cfg.label_names or info.get("label_names")
    if not text_fields:
        raise DilmError(f"dataset folder {folder}: give the text field(s) with data.text_fields=[...] "
                        "(or --text-fields) or an info.json")
    if not label_names:
        raise DilmError(f"dataset folder {folder}: give the label names with data.label_names=[...] "
                        "(or --label-names) or an info.json")
    extra = {k: str(info[k]) for k in ("description", "instruction") if info.get(k)}
    return DatasetSpec(folder.name, tuple(text_fields), tuple(label_names), **extra)


def find_split_file(folder: Path, split: str) -> Path | None:
    for ext in EXTENSIONS:
        if (folder / f"{split}{ext}").exists():
            return folder / f"{split}{ext}"
    return None


def read_rows(path: Path) -> list[tuple[int, dict]]:
    """Read (line number, row) pairs from a JSONL, CSV or TSV file, parsed as data only."""
    if not path.exists():
        raise DilmError(f"data file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DilmError(f"cannot read data file {path}: {e}") from None
    if not text.strip():
        raise DilmError(f"data file is empty: {path}")
    rows = []
    if path.suffix in (".jsonl", ".json"):
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DilmError(f"{path}, line {n}: malformed JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise DilmError(f"{path}, line {n}: expected a JSON object, got {type(row).__name__}")
            rows.append((n, row))
    else:
        reader = csv.DictReader(text.splitlines(), delimiter="\t" if path.suffix == ".tsv" else ",")
        for n, row in enumerate(reader, start=2):
            if None in row or any(v is None for v in row.values()):
                raise DilmError(f"{path}, line {n}: row has a different number of columns than the header")
            rows.append((n, row))
    if not rows:
        raise DilmError(f"data file has no rows: {path}")
    return rows


def parse_rows(rows: list[tuple[int, dict]], spec: DatasetSpec, source: str) -> Split:
    """Validate rows against the spec: text fields present, labels integers within the label names."""
    texts, labels = [], []
    for n, row in rows:
        for name in (*spec.text_fields, spec.label_field):
            if name not in row:
                raise DilmError(f"{source}, line {n}: missing field '{name}'{did_you_mean(name, row)} "
                                f"(fields: {', '.join(row)})")
        fields = tuple(str(row[name]) for name in spec.text_fields)
        labels.append(_parse_label(row[spec.label_field], spec, f"{source}, line {n}"))
        texts.append(fields)
    return Split(texts, labels)


def _parse_label(value, spec: DatasetSpec, where: str) -> int:
    if isinstance(value, str) and value in spec.label_names:
        return spec.label_names.index(value)
    try:
        if isinstance(value, bool):
            raise ValueError
        label = int(value)
        if str(value).strip() != str(label) and float(value) != label:
            raise ValueError
    except (TypeError, ValueError):
        raise DilmError(f"{where}: label {value!r} is not an integer or one of the label names "
                        f"{list(spec.label_names)}") from None
    if not 0 <= label < spec.num_classes:
        raise DilmError(f"{where}: label {label} is outside the label names {list(spec.label_names)} "
                        f"(0..{spec.num_classes - 1})")
    return label


def load_dataset(cfg: DataConfig, seed: int = 0) -> Dataset:
    """Load and validate train (+ validation) for a data config."""
    spec, folder = resolve_spec(cfg)
    if folder is not None:
        train_path = find_split_file(folder, "train")
        if train_path is None:
            raise DilmError(f"no train file in {folder} (looked for train{{{','.join(EXTENSIONS)}}})")
        train = parse_rows(read_rows(train_path), spec, str(train_path))
        val_path = find_split_file(folder, "validation")
        validation = parse_rows(read_rows(val_path), spec, str(val_path)) if val_path else None
    else:
        train, validation = _load_hub(spec)
    if cfg.holdout:
        train, validation = carve_holdout(train, cfg.holdout, seed)
    if cfg.max_train_examples and len(train) > cfg.max_train_examples:
        keep = sorted(random.Random(seed).sample(range(len(train)), cfg.max_train_examples))
        train = Split([train.texts[i] for i in keep], [train.labels[i] for i in keep])
    for c, idx in enumerate(train.by_class(spec.num_classes)):
        if not idx:
            raise DilmError(f"dataset '{spec.name}': class {c} ('{spec.label_names[c]}') has no training rows")
    return Dataset(spec, train, validation)


def carve_holdout(train: Split, n: int, seed: int) -> tuple[Split, Split]:
    """(train without n seeded rows, those n rows): a tuning split carved out of train, so that
    settings are chosen without looking at the validation split that reports results."""
    if not 0 < n < len(train):
        raise DilmError(f"data.holdout={n} must be between 1 and the {len(train)} training rows - 1")
    held = set(random.Random(f"holdout-{seed}").sample(range(len(train)), n))
    keep = [i for i in range(len(train)) if i not in held]
    pick = sorted(held)
    return (Split([train.texts[i] for i in keep], [train.labels[i] for i in keep]),
            Split([train.texts[i] for i in pick], [train.labels[i] for i in pick]))


def _load_hub(spec: DatasetSpec) -> tuple[Split, Split]:
    """Hugging Face hub fallback (needs the `datasets` package and a network)."""
    try:
        import datasets
    except ImportError:
        raise DilmError(f"dataset '{spec.name}' is not available locally (set ${DATA_ENV}) and "
                        "the hub fallback needs `pip install datasets`") from None
    try:
        ds = datasets.load_dataset(*spec.hub)
    except Exception as e:  # network, missing dataset...
        raise DilmError(f"cannot load dataset '{spec.name}' from the hub {spec.hub}: {e}") from None
    splits = []
    for split in ("train", spec.validation_split):
        rows = [(i + 1, dict(r)) for i, r in enumerate(ds[split])]
        splits.append(parse_rows(rows, spec, f"hub:{'/'.join(spec.hub)}[{split}]"))
    return splits[0], splits[1]
