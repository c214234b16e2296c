"""Step 3: dataset generation (paper Sec. 3.4).

Per class, sample `oversample x DPC` texts with top-p, embed them with the learner and
keep the K-centers (optionally only among the `posterior_keep` share of the pool that the
generator itself most confidently assigns to the class, p(c | x) from p(x | c)); write JSON-Lines with the dataset's own text fields, `label` and
`label_name`. One pool of `oversample x max(DPC)` per set serves every DPC: the
first `oversample x k` samples of it are an i.i.d. pool for DPC k. With `trials` > 1 the pool is
cut into that many disjoint parts, each gives a candidate set, and the candidate whose trained
learner scores best on a probe of training rows is kept (dilm/trials.py).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from dilm import dist
from dilm.conditioning import class_loglik
from dilm.config import GenerateConfig
from dilm.coreset import herding, select
from dilm.data import DatasetSpec, Split
from dilm.errors import DilmError
from dilm.generator import Generator
from dilm.io import write_json, write_jsonl, write_text
from dilm.learner import Learner
from dilm.owners import MANIFEST, read_manifest
from dilm.parallel import sample_parallel
from dilm.readers import read_json_file
from dilm.refine import Refiner, build_refiner, refine_probe
from dilm.runtime import autocast, seed_everything
from dilm.sets import set_row
from dilm.trials import best, check_search, class_search, probe_split, trial_scores

log = logging.getLogger(__name__)


def normalise(text: tuple[str, ...]) -> str:
    return " ||| ".join(" ".join(t.lower().split()) for t in text)


def sample_pool(gen: Generator, c: int, n: int, cfg: GenerateConfig, exclude: set[str],
                precision: str = "auto", seed: int = 0) -> tuple[list, dict]:
    """n decoded samples of class c; verbatim training copies dropped (and replaced) if `exclude`.
    Drawn in seeded chunks shared out over the processes (`sample_parallel`): the same pool for
    any number of processes."""
    texts, stats = [], {"dropped_unparseable": 0, "dropped_train_copies": 0}
    rounds = 0
    while len(texts) < n:
        seqs, dropped = sample_parallel(gen, c, n - len(texts), f"{seed}/{c}/{rounds}", cfg.batch_size,
                                        cfg.top_p, cfg.max_new_tokens, precision)
        rounds += 1
        stats["dropped_unparseable"] += dropped
        for s in seqs:
            t = gen.decode(s)
            if exclude and normalise(t) in exclude:
                stats["dropped_train_copies"] += 1
            else:
                texts.append(t)
        if stats["dropped_train_copies"] > 20 * n:
            raise RuntimeError(f"class {c}: almost every sample copies a training text")
    return texts, stats


def own_posterior(loglik: torch.Tensor, c: int) -> torch.Tensor:
    """(N,) the generator's own posterior of class c for each row of `loglik` (N, C), log p(x | c'):
    p(c | x) = p(x | c) / sum_c' p(x | c'), classes equally likely a priori."""
    return torch.softmax(loglik.double(), dim=-1)[:, c]


def most_confident(confidence: torch.Tensor, n: int) -> list[int]:
    """Indices of the `n` highest values, in index order (ties: the earlier index first)."""
    values = confidence.tolist()
    order = sorted(range(len(values)), key=lambda i: (-values[i], i))
    return sorted(order[:n])


def filtered(confidence: torch.Tensor | None, k: int, pool_size: int, keep: float) -> list[int]:
    """The rows among the first `pool_size` that the posterior filter keeps for a DPC-k pick: the share
    `keep` (at least k) with the highest `confidence`; all of them when `keep` is 1 or there is none."""
    if confidence is not None and keep < 1:
        return most_confident(confidence[:pool_size], max(k, round(keep * pool_size)))
    return list(range(pool_size))


def pick(emb: torch.Tensor, confidence: torch.Tensor | None, k: int, pool_size: int, keep: float,
         selection: str, seed: int = 0, target: torch.Tensor | None = None) -> list[int]:
    """Rows of one class's pool that a DPC-k set keeps: among the first `pool_size` rows (an i.i.d.
    pool), the share `keep` with the highest `confidence` (all of them when `keep` is 1 or there is
    no confidence), then `selection` (K-centers, herding, random) of their embeddings `emb`. Herding
    matches the kept pool's mean, or `target` (the class's real mean embedding) when given."""
    pool = filtered(confidence, k, pool_size, keep)
    if target is not None:
        if selection != "herding":
            raise DilmError(f"a selection target is for herding, not '{selection}'")
        return [pool[j] for j in herding(emb[pool], k, target=target)]
    return [pool[j] for j in select(selection, emb[pool], k, seed=seed)]


def part_size(pool_size: int, cfg: GenerateConfig, k: int) -> int:
    """Rows of a class's pool that one candidate at DPC k picks from: the first `oversample x k` with one
    candidate; with `trials` of them, disjoint parts of min(oversample x k, pool / trials) rows."""
    return min(cfg.oversample * k, pool_size // cfg.trials)


def class_pick(pools: list, cfg: GenerateConfig, k: int, j: int, c: int, seed: int) -> list[int]:
    """Indices into class c's pool of its rows in candidate j at DPC k: the pick from part j."""
    texts, emb, confidence = pools[c]
    size = part_size(len(texts), cfg, k)
    part = slice(j * size, (j + 1) * size)
    conf = confidence[part] if confidence is not None else None
    return [j * size + i for i in pick(emb[part], conf, k, size, cfg.posterior_keep, cfg.selection, seed=seed)]


def refine_picks(pools: list, cfg: GenerateConfig, k: int, j: int, picks: list[list[int]],
                 refiner: Refiner) -> list[list[int]]:
    """Candidate j's picks (per class, indices into its pool) after `refiner` (dilm/refine.py): each row
    may be swapped for another row of its class's part j that the posterior filter kept."""
    allowed = []
    for texts, _, confidence in pools:
        size = part_size(len(texts), cfg, k)
        conf = confidence[j * size:(j + 1) * size] if confidence is not None else None
        allowed.append([j * size + i for i in filtered(conf, k, size, cfg.posterior_keep)])
    chosen = [[rows.index(i) for i in p] for rows, p in zip(allowed, picks)]
    chosen = refiner([emb[rows] for (_, emb, _), rows in zip(pools, allowed)], chosen)
    return [[rows[i] for i in ch] for rows, ch in zip(allowed, chosen)]


def candidate_picks(pools: list, cfg: GenerateConfig, k: int, j: int, seed: int,
                    refiner: Refiner | None = None) -> list[list[int]]:
    """Per class, the indices into its pool of candidate j's rows at DPC k (refined if `refiner`)."""
    picks = [class_pick(pools, cfg, k, j, c, seed) for c in range(len(pools))]
    return refine_picks(pools, cfg, k, j, picks, refiner) if refiner is not None else picks


def candidate_rows(pools: list, spec: DatasetSpec, cfg: GenerateConfig, k: int, j: int, seed: int,
                   refiner: Refiner | None = None) -> list[list[dict]]:
    """Set rows of candidate j at DPC k, per class: each class's pick from part j of its pool."""
    return [[set_row(spec, pools[c][0][i], c) for i in p]
            for c, p in enumerate(candidate_picks(pools, cfg, k, j, seed, refiner))]


def choose_rows(pools: list, spec: DatasetSpec, cfg: GenerateConfig, k: int, seed: int, learner: Learner,
                probe: Split | None, refiner: Refiner | None = None) -> tuple[list[dict], dict]:
    """The rows of the set kept at DPC k, and the trial record ({} without trials). With `refiner`
    every candidate is refined first (`generate.refine`, dilm/refine.py). With `trials` > 1 every
    candidate is trained on and scored on `probe`; the record has each one's score and the best
    (`chosen`). With `trial_by_class` (at the DPCs of `trial_by_class_dpc`, every DPC when empty) the
    classes' rows may come from different candidates (dilm/trials.py, `class_search`); the record adds
    every scored choice (`by_class`) and the kept one (`halves`)."""
    if cfg.trials == 1:
        return [r for rows in candidate_rows(pools, spec, cfg, k, 0, seed, refiner) for r in rows], {}
    candidates = [candidate_rows(pools, spec, cfg, k, j, seed, refiner) for j in range(cfg.trials)]
    halves = [[candidates[j][c] for j in range(cfg.trials)] for c in range(len(pools))]

    def rows_of(choice: tuple[int, ...]) -> list[dict]:
        return [r for c, j in enumerate(choice) for r in halves[c][j]]

    def score(choices: list[tuple[int, ...]]) -> list[float]:
        return trial_scores([rows_split(rows_of(x), spec) for x in choices], learner, spec, probe, seed)

    own = [(j,) * len(pools) for j in range(cfg.trials)]
    if cfg.trial_by_class == "off" or (cfg.trial_by_class_dpc and k not in cfg.trial_by_class_dpc):
        scores = score(own)
        return rows_of(own[best(scores)]), {"probe_scores": scores, "chosen": best(scores)}
    kept, scored = class_search(cfg.trials, len(pools), score, cfg.trial_by_class)
    return rows_of(kept), {"probe_scores": [scored[x] for x in own], "chosen": best([scored[x] for x in own]),
                           "by_class": {",".join(map(str, x)): v for x, v in scored.items()}, "halves": list(kept)}


def rows_split(rows: list[dict], spec: DatasetSpec) -> Split:
    return Split([tuple(r[f] for f in spec.text_fields) for r in rows], [r["label"] for r in rows])


def set_path(out_dir: Path, dpc: int, index: int) -> Path:
    return out_dir / "sets" / f"dpc_{dpc}" / f"set_{index}.jsonl"


def manifest_path(out_dir: Path) -> Path:
    """{set file relative to out_dir: tag of the configuration + generator that wrote it}."""
    return out_dir / "sets" / MANIFEST


def is_written(out_dir: Path, cfg: GenerateConfig, index: int, tags: tuple[str, ...], manifest: dict) -> bool:
    """Whether set `index` exists at every DPC, written under one of `tags` (configuration + generator)."""
    tags = tuple(t for t in tags if t)  # an empty tag (no identity) never counts as written
    paths = [set_path(out_dir, k, index) for k in cfg.dpc]
    return bool(tags) and all(p.exists() and manifest.get(p.relative_to(out_dir).as_posix()) in tags
                              for p in paths)


def all_written(out_dir: Path, cfg: GenerateConfig, tags: tuple[str, ...]) -> bool:
    manifest = read_manifest(manifest_path(out_dir))
    return all(is_written(out_dir, cfg, i, tags, manifest) for i in range(cfg.num_sets))


def check_generation_rows(cfg: GenerateConfig, spec: DatasetSpec, train: Split | None,
                          seed: int) -> tuple[Split | None, Split | None]:
    """The training rows the generation judges its candidates by: (the trial probe, None without trials;
    the refinement's rows, None without refinement). Needs no model, so `dilm run` and `dilm validate`
    call it before any training: a dataset that cannot give them is refused then, not after distillation."""
    probe = None
    if cfg.trials > 1:
        if train is None:
            raise DilmError("generate.trials > 1 needs the training rows to score the candidates on")
        if cfg.trial_by_class != "off":
            check_search(cfg.trial_by_class, cfg.trials, spec.num_classes)
        probe = probe_split(train, cfg.trial_rows, cfg.trial_min_words, seed)
    if cfg.refine == "off" or train is None:  # build_refiner names a missing split or a bad value
        return probe, None
    return probe, refine_probe(train, cfg.refine_rows, cfg.refine_min_words, seed, exclude=probe)


def generate_sets(gen: Generator, learner: Learner, spec: DatasetSpec, cfg: GenerateConfig,
                  out_dir: Path, seed: int, features: str, train: Split | None = None,
                  precision: str = "auto", tags: tuple[str, ...] = ("",)) -> list[Path]:
    """Write `num_sets` sets for every DPC; return their paths.

    Resumable: `sets/manifest.json` records the tag (configuration + generator identity) of
    every written file, updated after each file; a set whose files all exist under one of
    `tags` (the first is this generation's, the others its tags in earlier dilm versions) is
    not sampled again. Each set is seeded on its own, so a rerun writes the same rows.
    """
    exclude = {normalise(t) for t in train.texts} if (cfg.drop_train_copies and train) else set()
    manifest = read_manifest(manifest_path(out_dir))
    written = []
    biggest = max(cfg.dpc)
    probe, trial_log = check_generation_rows(cfg, spec, train, seed)[0], {}
    if cfg.trials > 1:
        record = out_dir / "sets" / "trials.json"
        trial_log = read_json_file(record, "trial record", "delete it to start a new one") if record.exists() else {}
    refiner = build_refiner(cfg.refine, train, cfg.refine_rows, cfg.refine_min_words, cfg.refine_temperature,
                            cfg.refine_passes, learner, features, seed, exclude=probe)
    for index in range(cfg.num_sets):
        paths = {k: set_path(out_dir, k, index) for k in sorted(cfg.dpc)}
        if is_written(out_dir, cfg, index, tags, manifest):
            log.info("set %d: already written with this configuration (skipped)", index)
            written += paths.values()
            continue
        seed_everything(seed + index)
        t0 = time.time()
        pools = []
        for c in range(spec.num_classes):
            texts, stats = sample_pool(gen, c, cfg.oversample * biggest, cfg, exclude, precision, seed + index)
            log.info("set %d class %d: %d samples in pool, %s", index, c, len(texts), stats)
            confidence = None
            if cfg.posterior_keep < 1:
                with autocast(precision, next(gen.model.parameters()).device):
                    confidence = own_posterior(class_loglik(gen, texts, spread=True), c)
            pools.append((texts, learner.embed(texts, features), confidence))
        log.info("set %d: sampled %d texts in %.1f s", index, sum(len(p[0]) for p in pools), time.time() - t0)
        for k, path in paths.items():
            rows, record = choose_rows(pools, spec, cfg, k, seed + index, learner, probe, refiner)
            if record:
                trial_log[path.relative_to(out_dir).as_posix()] = record
                kept = record.get("halves", record["chosen"])
                log.info("set %d DPC %d: trial %s %s of the candidates; kept %s %s", index, k, spec.metric,
                         " / ".join(f"{x:.1f}" for x in record["probe_scores"]),
                         "per class" if "halves" in record else "candidate", kept)
            manifest[path.relative_to(out_dir).as_posix()] = tags[0]
            if dist.is_main():
                if cfg.trials > 1:
                    write_json(out_dir / "sets" / "trials.json", trial_log)
                write_jsonl(path, rows)
                write_json(manifest_path(out_dir), manifest)  # at once: a set file never lacks its record
                log.info("wrote %s (%d rows)", path, len(rows))
            written.append(path)
        dist.barrier()
    return written


def samples_markdown(spec: DatasetSpec, rows: list[dict], per_class: int, title: str) -> str:
    """A few rows per class as Markdown, for a human to read."""
    lines = [f"# {title}", ""]
    for c, name in enumerate(spec.label_names):
        lines += [f"## {c}: {name}", ""]
        for row in [r for r in rows if r["label"] == c][:per_class]:
            text = " <sep> ".join(row[f] for f in spec.text_fields).replace("\n", " ")
            lines.append(f"- {text}")
        lines.append("")
    return "\n".join(lines)


def write_samples(path: Path, spec: DatasetSpec, rows: list[dict], per_class: int, title: str) -> None:
    write_text(path, samples_markdown(spec, rows, per_class, title))
