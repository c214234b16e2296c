"""Typed run configuration: defaults in one place, YAML presets, `key=value` overrides.

A preset is a YAML file under `dilm/presets/` (or any path) whose nested keys mirror
the dataclasses below. Unknown keys are rejected with a did-you-mean message.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from dilm.errors import DilmError, did_you_mean, shorten
from dilm.layout import LAYOUTS
from dilm.precision import PRECISIONS

PRESET_DIR = Path(__file__).parent / "presets"


class _Loader(yaml.SafeLoader):
    """YAML with YAML 1.2 booleans: only true/false, so `yes`, `no`, `on`, `off` stay strings."""


_Loader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


@dataclass
class DataConfig:
    dataset: str = "sst2"  # built-in spec name, or a folder with train/validation files
    text_fields: list[str] | None = None  # override the spec's text field(s)
    label_field: str | None = None  # override the spec's label field
    label_names: list[str] | None = None  # override the spec's label names
    max_train_examples: int | None = None  # seeded subsample of train (None = all)
    holdout: int = 0  # >0: carve this many seeded rows out of train and score on them instead of validation
    # >0: the carve-out draws only train rows of at least this many words (SST-2's train split is mostly
    # phrases, its validation split whole sentences; a carve-out of long rows looks like the latter)
    holdout_min_words: int = 0
    description: str | None = None  # what one example is ("customer review"), for the generator's instruction
    instruction: str | None = None  # the instruction template, with {label} (and {description})


@dataclass
class ModelConfig:
    generator: str = "smollm2-135m"  # short name, local HF folder or hub name
    learner: str = "minilm-l6"  # short name, local HF folder or hub name
    trust_remote_code: bool = False
    max_length: int = 64  # learner tokens per example; generator tokens per text
    # How the class reaches the generator (dilm/layout.py): "instruction" (in the model's chat format,
    # plain text without one), "plain_instruction", "label_words" (`negative:`), or "class_token" (the
    # paper's <bos_c>). Instruction is the default: on a train carve-out it steers the generator best
    # (docs/method.md, benchmarks/conditioning_candidates.sh)
    conditioning: str = "instruction"
    # Starting embedding of the new class tokens <bos_c>: "eos" (a copy of EOS, the same for every
    # class) or "label_names" (the mean embedding of class c's name, so classes differ from step 0)
    class_token_init: str = "eos"


@dataclass
class PretrainConfig:
    """Step 1: the generator learns `<bos_c> text <eos>` (paper Eq. 1)."""

    steps: int = 300
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    grad_clip: float = 1.0
    grad_accum: int = 1  # sequential micro-batches per process per step (same update, less memory)
    checkpoint_every: int = 100
    log_every: int = 10


@dataclass
class DistillConfig:
    """Step 2: gradient matching (paper Algorithm 1; names follow its Table 6)."""

    outer_loops: int = 4  # S: learner re-initialisations
    inner_steps: int = 10  # T: generator steps per outer loop
    learner_steps: int = 5  # K: learner steps on real data after each generator step
    real_batch: int = 64  # M: real samples per class in a teacher batch
    syn_batch: int = 16  # N: synthetic samples per class per generator step
    resample_interval: int = 10  # I: generator steps served by one diverse pool
    lr: float = 1e-5  # generator learning rate
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    learner_lr: float = 1e-4
    learner_batch: int = 32
    score: str = "mean"  # sample weight score: "mean" (length-normalised) or "sum" log p(x)
    tau: float = 1.0  # softmax temperature of the sample weights
    representative_teacher: bool = True
    num_teacher_sets: int = 5  # R
    diverse_sampling: bool = True
    top_p: float = 0.95
    max_new_tokens: int = 48
    log_every: int = 5
    checkpoint_every: int = 10  # generator steps between checkpoints (0 = only at the end / on Ctrl-C)
    lora_rank: int = 0  # >0: train LoRA adapters of this rank (peft) instead of all weights; merged at the end
    lora_alpha: float = 16.0
    # beyond the paper: lm_weight x the pre-training LM loss (Eq. 1) on lm_batch random training rows is
    # added to the matching loss at every generator step, so a larger lr cannot unlearn ending texts (0 = off)
    lm_weight: float = 0.0
    lm_batch: int = 16


@dataclass
class GenerateConfig:
    """Step 3: sample oversample x DPC texts per class, keep K-centers."""

    dpc: list[int] = field(default_factory=lambda: [5])
    oversample: int = 100
    num_sets: int = 1
    top_p: float = 0.95
    max_new_tokens: int = 48
    batch_size: int = 64
    selection: str = "kcenters"  # "kcenters" (the paper), "herding" or "random"
    features: str = ""  # learner features the selection sees: "mean", "cls", or "" = the run's `features`
    # <1: before selection, keep only this share of each class's pool, ranked by the generator's own
    # posterior p(c | x) of the class it was sampled for (beyond the paper; 1 = keep all)
    posterior_keep: float = 1.0
    drop_train_copies: bool = False  # drop verbatim copies of training texts from the pool
    # >1: cut each class's pool into this many disjoint parts, pick a candidate set from each, train the
    # learner on every candidate (the evaluation protocol) and keep the one that scores best on
    # `trial_rows` seeded training rows of >= `trial_min_words` words (beyond the paper; dilm/trials.py)
    trials: int = 1
    trial_rows: int = 500
    trial_min_words: int = 0
    # with trials > 1, let each class's rows come from a different candidate (dilm/trials.py): "all"
    # trains on every combination (trials ** classes runs), "ascent" on one pass of coordinate ascent
    # over the classes (trials + classes x (trials - 1) runs); at the DPCs in trial_by_class_dpc (all if empty)
    trial_by_class: str = "off"
    trial_by_class_dpc: list[int] = field(default_factory=list)
    # "centroid": before the trial pick, refine each candidate towards `refine_rows` seeded training rows of
    # >= `refine_min_words` words (outside the trial probe): swap rows for other filtered samples of their
    # class while that raises a nearest-centroid score of those rows, smoothed by `refine_temperature`, for at
    # most `refine_passes` passes over the set (beyond the paper; dilm/refine.py). "off": the pick as is
    refine: str = "off"
    refine_rows: int = 1000
    refine_min_words: int = 12
    refine_passes: int = 2
    refine_temperature: float = 0.05
    samples_per_class: int = 5  # rows per class shown in samples.md


@dataclass
class RunConfig:
    out_dir: str = "runs/demo"
    seed: int = 0
    precision: str = "auto"  # "bf16" autocast (CPU too), "fp32", or "auto": chosen per machine (dilm.precision)
    features: str = "mean"  # learner features for K-means/K-centers: "mean" or "cls" pooling
    stages: list[str] = field(default_factory=lambda: ["pretrain", "distill", "generate"])
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)


CHOICES = {
    "precision": PRECISIONS,
    "features": ("mean", "cls"),
    "distill.score": ("mean", "sum"),
    "generate.selection": ("kcenters", "herding", "random"),
    "generate.features": ("", "mean", "cls"),
    "generate.trial_by_class": ("off", "ascent", "all"),
    "generate.refine": ("off", "centroid"),
    "model.class_token_init": ("eos", "label_names"),
    "model.conditioning": LAYOUTS,
}
STAGES = ("pretrain", "distill", "generate")
# What a config written before a key existed meant by leaving it out, where that differs from
# today's default (a changed default must not make an old run folder look like a new one).
BEFORE_KEY_EXISTED = {"model.conditioning": "class_token"}
# Keys added since run folders were written, whose value here means "as before the key existed": while
# a config holds it, the key stays out of the stage fingerprints, so those folders keep their tags.
NEUTRAL_WHEN_ADDED = {"generate.features": "", "data.holdout_min_words": 0, "generate.trials": 1,
                      "generate.trial_rows": 500, "generate.trial_min_words": 0,
                      "generate.trial_by_class": "off", "generate.trial_by_class_dpc": [],
                      "distill.lm_weight": 0.0, "distill.lm_batch": 16, "generate.refine": "off",
                      "generate.refine_rows": 1000, "generate.refine_min_words": 12, "generate.refine_passes": 2,
                      "generate.refine_temperature": 0.05}


def _from_dict(cls: type, values: dict, prefix: str = "") -> Any:
    """Build dataclass `cls` from a nested dict, rejecting unknown keys."""
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in (values or {}).items():
        if key not in names:
            raise DilmError(f"unknown config key '{shorten(prefix + str(key))}'{did_you_mean(key, names)}")
        sub = hints[key]
        if dataclasses.is_dataclass(sub):
            if not isinstance(value, dict):
                raise DilmError(f"config key '{prefix}{key}' must be a mapping, got {shorten(repr(value))}")
            kwargs[key] = _from_dict(sub, value, f"{prefix}{key}.")
        else:
            kwargs[key] = _coerce(value, sub, f"{prefix}{key}")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check and convert a YAML value to the field's type (YAML reads `1e-4` as a string)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if value is None:
        if type(None) in typing.get_args(hint):
            return None
        raise DilmError(f"config '{key}' cannot be empty")
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        hint = args[0]
    origin = typing.get_origin(hint)
    try:
        if origin is list:
            items = value if isinstance(value, list) else [value]
            return [_coerce(v, typing.get_args(hint)[0], key) for v in items]
        if hint is bool:
            if isinstance(value, bool):
                return value
            raise ValueError
        if hint is int:
            if isinstance(value, bool) or float(value) != int(float(value)):
                raise ValueError
            return int(value) if isinstance(value, int) else int(float(value))
        if hint is float:
            if isinstance(value, bool):
                raise ValueError
            if not math.isfinite(float(value)):
                raise DilmError(f"config '{key}' must be a finite number, got {shorten(repr(value))}")
            return float(value)
        if hint is str:
            if isinstance(value, (dict, list)):
                raise ValueError
            return str(value)
    except (TypeError, ValueError, OverflowError):
        name = getattr(hint, "__name__", str(hint))
        raise DilmError(f"config '{key}' must be {name}, got {shorten(repr(value))}") from None
    return value


def _set_override(tree: dict, dotted: str, raw: str) -> None:
    """Apply `a.b=value` to the nested dict; the value is parsed as YAML (1e-4, true, [5, 10])."""
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise DilmError(f"override '{shorten(dotted)}': '{key}' is not a section")
    try:
        node[keys[-1]] = parse_yaml(raw) if raw != "" else None
    except (yaml.YAMLError, ValueError, RecursionError) as e:
        problem = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DilmError(f"override '{shorten(dotted)}': cannot read the value {shorten(repr(raw))} "
                        f"({shorten(problem, 80)})") from None


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def read_preset(name_or_path: str) -> dict:
    """Read a shipped preset by name, or a YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PRESET_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            from dilm.errors import unknown_name

            raise unknown_name("preset", name_or_path, preset_names())
    if not path.exists():
        raise DilmError(f"config file not found: {path}")
    try:
        tree = parse_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise DilmError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(tree, dict):
        raise DilmError(f"{path}: a config must be a mapping of keys, got {type(tree).__name__}")
    return tree


def load_config(preset: str | None = None, overrides: list[str] = ()) -> RunConfig:
    """Resolve a RunConfig from an optional preset and `key=value` overrides."""
    tree = read_preset(preset) if preset else {}
    for item in overrides:
        if "=" not in item:
            raise DilmError(f"override '{item}' must look like key=value (e.g. distill.lr=1e-5)")
        key, raw = item.split("=", 1)
        _set_override(tree, key.strip(), raw.strip())
    cfg = _from_dict(RunConfig, tree)
    check_config(cfg)
    return cfg


def _dpc_list(key: str, value: Any, allow_empty: bool) -> list[int]:
    """A list of DPCs from one integer or a list; refuses anything but positive integers (booleans too)."""
    values = [value] if isinstance(value, int) else value
    if (not isinstance(values, list) or (not values and not allow_empty)
            or any(isinstance(k, bool) or not isinstance(k, int) or k <= 0 for k in values)):
        raise DilmError(f"{key} must be positive integers, got {values!r}")
    return values


def check_config(cfg: RunConfig) -> None:
    """Reject values that cannot work, before anything is built."""
    for dotted, allowed in CHOICES.items():
        value = cfg
        for key in dotted.split("."):
            value = getattr(value, key)
        if value not in allowed:
            raise DilmError(
                f"config '{dotted}' = {value!r}{did_you_mean(value, allowed)}; choose from: {', '.join(allowed)}"
            )
    for stage in cfg.stages:
        if stage not in STAGES:
            raise DilmError(f"unknown stage '{stage}'{did_you_mean(stage, STAGES)} in 'stages'")
    gen = cfg.generate
    gen.dpc = _dpc_list("generate.dpc", gen.dpc, allow_empty=False)
    if gen.oversample < 1:
        raise DilmError(f"generate.oversample must be >= 1, got {gen.oversample}")
    if gen.num_sets < 1:
        raise DilmError(f"generate.num_sets must be >= 1, got {gen.num_sets}")
    if not 0 < gen.posterior_keep <= 1:
        raise DilmError(f"generate.posterior_keep must be in (0, 1], got {gen.posterior_keep}")
    if gen.trials < 1 or gen.trial_rows < 1 or gen.trial_min_words < 0:
        raise DilmError(f"generate.trials and generate.trial_rows must be >= 1 and generate.trial_min_words "
                        f">= 0, got {gen.trials}, {gen.trial_rows} and {gen.trial_min_words}")
    if gen.trial_by_class != "off" and gen.trials < 2:
        raise DilmError(f"generate.trial_by_class={gen.trial_by_class} picks among trial candidates: it needs "
                        f"generate.trials >= 2, got {gen.trials}")
    if gen.refine_rows < 1 or gen.refine_passes < 1 or gen.refine_min_words < 0 or not gen.refine_temperature > 0:
        raise DilmError(f"generate.refine_rows and generate.refine_passes must be >= 1, generate.refine_min_words "
                        f">= 0 and generate.refine_temperature > 0, got {gen.refine_rows}, {gen.refine_passes}, "
                        f"{gen.refine_min_words} and {gen.refine_temperature}")
    gen.trial_by_class_dpc = _dpc_list("generate.trial_by_class_dpc", gen.trial_by_class_dpc, allow_empty=True)
    positive = {
        "pretrain.batch_size": cfg.pretrain.batch_size,
        "pretrain.grad_accum": cfg.pretrain.grad_accum,
        "distill.real_batch": cfg.distill.real_batch,
        "distill.syn_batch": cfg.distill.syn_batch,
        "distill.resample_interval": cfg.distill.resample_interval,
        "distill.num_teacher_sets": cfg.distill.num_teacher_sets,
        "distill.tau": cfg.distill.tau,
        "distill.lm_batch": cfg.distill.lm_batch,
        "model.max_length": cfg.model.max_length,
    }
    for key, value in positive.items():
        if not isinstance(value, (int, float)) or value <= 0:
            raise DilmError(f"config '{key}' must be > 0, got {value!r}")
    for key in ("pretrain.steps", "distill.outer_loops", "distill.inner_steps", "distill.learner_steps"):
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        if not isinstance(value, int) or value < 0:
            raise DilmError(f"config '{key}' must be an integer >= 0, got {value!r}")
    if not isinstance(cfg.distill.lm_weight, (int, float)) or not cfg.distill.lm_weight >= 0:
        raise DilmError(f"config 'distill.lm_weight' must be >= 0 (0 = no LM term), got {cfg.distill.lm_weight!r}")
    if not 0 < gen.top_p <= 1 or not 0 < cfg.distill.top_p <= 1:
        raise DilmError("top_p must be in (0, 1]")


def config_to_dict(cfg: RunConfig) -> dict:
    return dataclasses.asdict(cfg)


def selection_features(cfg: RunConfig) -> str:
    """The learner features the generation's selection sees: `generate.features`, else the run's."""
    return cfg.generate.features or cfg.features


def dump_config(cfg: RunConfig) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
