"""Dataset specs and loading: built-in specs, local JSONL/CSV/TSV folders, HF hub fallback.

A dataset is a declarative `DatasetSpec`; loading returns `Split`s of plain Python
lists, validated row by row so that a bad file fails with its name and line number.
"""

from __future__ import annotations

import math
import os
import random
import re
from dataclasses import dataclass, replace
from pathlib import Path

from dilm.config import DataConfig
from dilm.errors import DilmError, did_you_mean, shorten, unknown_name
from dilm.layout import DEFAULT_DESCRIPTION, DEFAULT_INSTRUCTION, DEFAULT_PAIR_INSTRUCTION, instructions
from dilm.readers import read_json_file, read_rows

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
    check_names(list(spec.text_fields), f"dataset '{name}'", "text fields", 1, 2)
    check_names(list(spec.label_names), f"dataset '{name}'", "label names", 2)
    return spec, folder


def check_names(names: list, where: str, kind: str, least: int, most: int | None = None) -> None:
    """Field or label names: distinct, non-blank strings, `least`..`most` of them; else DilmError."""
    if not least <= len(names) <= (most or len(names)):
        count = f"{least} or {most}" if most else f"at least {least}"
        raise DilmError(f"{where}: {count} {kind} are needed, got {shorten(repr(names), 200)}")
    for i, v in enumerate(names):
        if not isinstance(v, str) or not v.strip():
            raise DilmError(f"{where}: {shorten(repr(v))} is not one of the {kind} (names are non-empty strings)")
        if v in names[:i]:
            raise DilmError(f"{where}: {shorten(repr(v))} appears twice in the {kind}")


def read_info(path: Path) -> dict:
    """A dataset folder's info.json: a JSON object; `text_fields` and `label_names` lists of strings."""
    info = read_json_file(path, "info.json", 'fix it: it is a JSON object such as '
                          '{"text_fields": ["sentence"], "label_names": ["neg", "pos"]}')
    if not isinstance(info, dict):
        raise DilmError(f"{path}: expected a JSON object with text_fields and label_names, "
                        f"got {type(info).__name__}")
    for key in ("text_fields", "label_names"):
        if info.get(key) is not None and not isinstance(info[key], list):
            raise DilmError(f"{path}: '{key}' must be a list of names, got {shorten(repr(info[key]))}")
    return info


def _spec_from_folder(folder: Path, cfg: DataConfig) -> DatasetSpec:
    """A user's folder: info.json if present, else the config's fields."""
    info = read_info(folder / "info.json") if (folder / "info.json").exists() else {}
    text_fields = cfg.text_fields or info.get("text_fields")
    label_names = cfg.label_names or info.get("label_names")
    if not text_fields:
        raise DilmError(f"dataset folder {folder}: give the text field(s) with data.text_fields=[...] "
                        "(or --text-fields) or an info.json")
    if not label_names:
        raise DilmError(f"dataset folder {folder}: give the label names with data.label_names=[...] "
                        "(or --label-names) or an info.json")
    where = f"{folder / 'info.json'}" if not (cfg.text_fields and cfg.label_names) else f"dataset folder {folder}"
    check_names(list(text_fields), where, "text fields", 1, 2)
    check_names(list(label_names), where, "label names", 2)
    extra = {}
    for key in ("description", "instruction"):
        value = info.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise DilmError(f"{folder / 'info.json'}: '{key}' must be a non-empty string, got {shorten(repr(value))}")
        if value:
            extra[key] = value
    return DatasetSpec(folder.name, tuple(text_fields), tuple(label_names), **extra)


def find_split_file(folder: Path, split: str) -> Path | None:
    for ext in EXTENSIONS:
        if (folder / f"{split}{ext}").exists():
            return folder / f"{split}{ext}"
    return None


def parse_rows(rows: list[tuple[int, dict]], spec: DatasetSpec, source: str) -> Split:
    """Validate rows against the spec: texts non-blank strings, labels integers within the label names."""
    texts, labels = [], []
    for n, row in rows:
        for name in (*spec.text_fields, spec.label_field):
            if name not in row:
                raise DilmError(f"{source}, line {n}: missing field '{name}'{did_you_mean(name, row)} "
                                f"(fields: {shorten(', '.join(row), 200)})")
        texts.append(tuple(_parse_text(row[name], name, f"{source}, line {n}") for name in spec.text_fields))
        labels.append(_parse_label(row[spec.label_field], spec, f"{source}, line {n}"))
    return Split(texts, labels)


def _parse_text(value, name: str, where: str) -> str:
    """A text field as the file has it: a non-blank string, else DilmError naming the field."""
    if value is None:
        raise DilmError(f"{where}: field '{name}' is null, not a text; fix or remove the row")
    if not isinstance(value, str):
        raise DilmError(f"{where}: field '{name}' is {type(value).__name__} {shorten(repr(value))}, not a text")
    if not value.strip():
        raise DilmError(f"{where}: field '{name}' is {'empty' if not value else 'only white space'}; "
                        "fix or remove the row")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise DilmError(f"{where}: field '{name}' holds an unpaired surrogate (\\ud800-\\udfff), "
                        "which is not a character") from None
    return value


_INTEGER = re.compile(r"^\s*-?[0-9]{1,18}\s*$")


def _parse_label(value, spec: DatasetSpec, where: str) -> int:
    """A label as the file says it: a label name, an integer, an integer string or a float without
    a fraction (1.0); never a bool, a rounded float (1.5), NaN or another type."""
    if isinstance(value, str) and value in spec.label_names:
        return spec.label_names.index(value)
    if isinstance(value, str) and _INTEGER.match(value):
        label = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        label = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        label = int(value)
    else:
        raise DilmError(f"{where}: label {shorten(repr(value))} is not an integer or one of the label names "
                        f"{list(spec.label_names)}")
    if not 0 <= label < spec.num_classes:
        raise DilmError(f"{where}: label {shorten(str(label))} is outside the label names "
                        f"{list(spec.label_names)} (0..{spec.num_classes - 1})")
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
        train, validation = carve_holdout(train, cfg.holdout, seed, cfg.holdout_min_words)
    elif cfg.holdout_min_words:
        raise DilmError(f"data.holdout_min_words={cfg.holdout_min_words} needs data.holdout > 0")
    if cfg.max_train_examples and len(train) > cfg.max_train_examples:
        keep = sorted(random.Random(seed).sample(range(len(train)), cfg.max_train_examples))
        train = Split([train.texts[i] for i in keep], [train.labels[i] for i in keep])
    for c, idx in enumerate(train.by_class(spec.num_classes)):
        if not idx:
            raise DilmError(f"dataset '{spec.name}': class {c} ('{spec.label_names[c]}') has no training rows")
    return Dataset(spec, train, validation)


def word_count(text: tuple[str, ...]) -> int:
    """Whitespace words of a row (of both texts, for a pair)."""
    return sum(len(t.split()) for t in text)


def rows_with_words(split: Split, min_words: int) -> list[int]:
    """Indices of the rows of at least `min_words` words."""
    return [i for i, t in enumerate(split.texts) if word_count(t) >= min_words]


def carve_holdout(train: Split, n: int, seed: int, min_words: int = 0) -> tuple[Split, Split]:
    """(train without n seeded rows, those n rows): a tuning split carved out of train, so that
    settings are chosen without looking at the validation split that reports results. `min_words` > 0
    draws the n rows only from rows of at least that many words."""
    if min_words < 0:
        raise DilmError(f"data.holdout_min_words={min_words} must be >= 0")
    pool = range(len(train))  # the plain carve-out samples from a range, as it always did (same rows)
    if min_words:
        pool = rows_with_words(train, min_words)
    if not 0 < n < len(train) or n > len(pool):
        where = f"the {len(pool)} training rows of >= {min_words} words" if min_words else \
            f"the {len(train)} training rows - 1"
        raise DilmError(f"data.holdout={n} must be between 1 and {where}")
    held = set(random.Random(f"holdout-{seed}").sample(pool, n))
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
