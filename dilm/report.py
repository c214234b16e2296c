"""`dilm report`: tables, a DPC-scaling plot, example texts and a memorisation check, from the store.

Runs are grouped by (dataset, learner, protocol). Per group: a Markdown table methods x DPC
(mean ± sample std (n), `*` where Welch's t-test against the reference method, K-centers,
gives p < 0.05), the same numbers as JSON `{method: {dpc: {"mean", "std", "n", "p_vs_<ref>"}}}`
and a PNG of score against DPC with 95% confidence intervals. The memorisation check (the
paper's limitation iii) finds, for each text of a generated set, the nearest training text by
cosine similarity of the learner's mean-pooled embeddings, and counts exact duplicates (equal
after `normalise`) and near duplicates (cosine >= 0.95, exact ones included) per set.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from dilm.config import DataConfig, RunConfig
from dilm.data import DATASETS, Dataset, load_dataset, resolve_spec
from dilm.errors import DilmError
from dilm.features import embeddings
from dilm.generate import normalise
from dilm.io import atomic_open, read_jsonl, write_json, write_text
from dilm.learner import load_learner
from dilm.metrics import ci95, majority_score, summary, welch
from dilm.store import ResultStore, RunRecord

log = logging.getLogger(__name__)

METHOD_ORDER = ("full", "random", "kcenters", "herding", "vanilla_lm", "dilm")
REAL_DATA_METHODS = ("full", "random", "kcenters", "herding")  # sets of training rows: no memorisation check
NEAR_DUPLICATE = 0.95
NON_TEXT_FIELDS = ("label", "label_name")

Table = dict[str, dict[int, dict]]


def _finite(x: float) -> float | None:
    return None if x is None or math.isnan(x) else x


def _rank(method: str) -> tuple:
    base = next((i for i, m in enumerate(METHOD_ORDER) if method == m or method.startswith(m + "_")),
                len(METHOD_ORDER))
    return base, method


def results_table(records: list[RunRecord], reference: str = "kcenters") -> Table:
    """{method: {dpc: {"mean", "std", "n", "p_vs_<reference>"}}} with methods in report order;
    std/p are None where undefined (one run, no reference runs)."""
    scores: dict[str, dict[int, list[float]]] = {}
    for r in records:
        scores.setdefault(r.method, {}).setdefault(r.dpc, []).append(r.score)
    table: Table = {}
    for method in sorted(scores, key=_rank):
        table[method] = {}
        for dpc in sorted(scores[method]):
            values = scores[method][dpc]
            s = summary(values)
            ref = scores.get(reference, {}).get(dpc)
            p = welch(values, ref) if ref and method != reference else math.nan
            table[method][dpc] = {"mean": s.mean, "std": _finite(s.std), "n": s.n,
                                  f"p_vs_{reference}": _finite(p), "ci95": _finite(ci95(values))}
    return table


def dpc_name(k: int) -> str:
    """DPC 0 files a run on a whole training split (the `full` reference row): shown as `all`."""
    return "all" if k == 0 else str(k)


def table_json(table: Table) -> dict:
    """The JSON shape: DPC keys as strings (`all` for a whole split), without the plot-only `ci95`."""
    return {m: {dpc_name(k): {f: v for f, v in cell.items() if f != "ci95"} for k, cell in row.items()}
            for m, row in table.items()}


def markdown_table(table: Table, reference: str = "kcenters") -> str:
    dpcs = sorted({k for row in table.values() for k in row}, key=lambda k: (k == 0, k))  # `all` last
    lines = ["| method | " + " | ".join("all rows" if k == 0 else f"DPC {k}" for k in dpcs) + " |",
             "|---|" + "---|" * len(dpcs)]
    for method, row in table.items():
        cells = []
        for k in dpcs:
            cell = row.get(k)
            if cell is None:
                cells.append("")
                continue
            std = "–" if cell["std"] is None else f"{cell['std']:.1f}"
            p = cell[f"p_vs_{reference}"]
            mark = "*" if p is not None and p < 0.05 else ""
            cells.append(f"{cell['mean']:.1f} ± {std} ({cell['n']}){mark}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def draw_scaling(plt, table: Table, title: str):
    """The DPC-scaling figure: a log DPC axis ticked at the DPCs themselves (5, 10, 20), and the
    legend outside the axes, where it covers no line."""
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    fig, ax = plt.subplots(figsize=(7, 4))
    ticks = sorted({k for row in table.values() for k in row if k > 0})
    for method, row in table.items():
        dpcs = [k for k in sorted(row) if k > 0]
        if 0 in row:  # a whole-split reference: a horizontal line
            ax.axhline(row[0]["mean"], linestyle="--", color="gray", label=f"{method} (all rows)")
        if not dpcs:
            continue
        means = [row[k]["mean"] for k in dpcs]
        errs = [row[k]["ci95"] or 0.0 for k in dpcs]
        ax.errorbar(dpcs, means, yerr=errs, marker="o", capsize=3, label=method)
    ax.set_xscale("log")
    if ticks:
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_locator(NullLocator())
        if len(ticks) == 1:
            ax.set_xlim(ticks[0] / 1.5, ticks[0] * 1.5)
    ax.set_xlabel("data per class (DPC)")
    ax.set_ylabel("score (%), mean and 95% CI")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize="small")
    return fig


def scaling_plot(table: Table, path: Path, title: str) -> bool:
    """Score against DPC (log axis), mean with 95% CI bars per method; False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.info("matplotlib is not installed: skipping the DPC-scaling plot %s", path)
        return False
    fig = draw_scaling(plt, table, title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())
    return True


def row_text(row: dict) -> tuple[str, ...]:
    return tuple(str(v) for k, v in row.items() if k not in NON_TEXT_FIELDS)


def examples_markdown(set_paths: list[Path], per_class: int) -> str:
    """Up to `per_class` texts of each class from each set."""
    lines = ["# Example texts", ""]
    for path in set_paths:
        lines += [f"## {path}", ""]
        rows = read_jsonl(path)
        for label in sorted({r["label"] for r in rows}):
            of_class = [r for r in rows if r["label"] == label]
            lines += [f"### {label}: {of_class[0].get('label_name', label)}", ""]
            lines += [f"- {' <sep> '.join(row_text(r))}".replace("\n", " ") for r in of_class[:per_class]]
            lines.append("")
    return "\n".join(lines)


# ---- memorisation ------------------------------------------------------------------------------

def nearest(queries: torch.Tensor, keys: torch.Tensor, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarity and index of the nearest key row for each query row.

    Args:
        queries: (n, d); keys: (m, d).
    Returns:
        similarity (n,) and index (n,) into keys.
    """
    q = torch.nn.functional.normalize(queries.float(), dim=1)
    best = torch.full((q.shape[0],), -2.0)
    index = torch.zeros(q.shape[0], dtype=torch.long)
    for start in range(0, keys.shape[0], chunk):
        k = torch.nn.functional.normalize(keys[start: start + chunk].float(), dim=1)
        sim, idx = (q @ k.T).max(1)  # (n,)
        better = sim > best
        best = torch.where(better, sim, best)
        index = torch.where(better, idx + start, index)
    return best, index


@dataclass
class SetMemorisation:
    set_path: str
    method: str
    dpc: int
    texts: int
    exact: int
    near: int  # cosine >= NEAR_DUPLICATE, exact copies included
    mean_similarity: float


def memorisation_rows(texts: list[tuple[str, ...]], train_texts: list[tuple[str, ...]], sims: torch.Tensor,
                      idx: torch.Tensor, train_keys: set[str]) -> list[dict]:
    """Per generated text: its nearest training text, the similarity and whether it is a verbatim copy."""
    return [{"text": list(t), "nearest": list(train_texts[int(i)]), "similarity": round(float(s), 4),
             "exact": normalise(t) in train_keys} for t, s, i in zip(texts, sims, idx)]


def memorisation_check(sets: list[tuple[str, str, int]], dataset: Dataset, learner_name: str, max_length: int,
                       precision: str) -> tuple[list[SetMemorisation], list[dict]]:
    """Check each (path, method, dpc) set of `dataset` against its training split."""
    spec, train = dataset.spec, dataset.train
    learner = load_learner(learner_name, spec.num_classes, max_length, precision)
    learner.reset(0)
    train_emb = embeddings(learner, learner_name, train.texts, "mean")
    train_keys = {normalise(t) for t in train.texts}
    summaries, details = [], []
    for path, method, dpc in sets:
        rows = read_jsonl(path)
        texts = [tuple(str(r[f]) for f in spec.text_fields) for r in rows]
        sims, idx = nearest(learner.embed(texts, "mean"), train_emb)
        per_text = memorisation_rows(texts, train.texts, sims, idx, train_keys)
        details += [{"set": path, **d} for d in per_text]
        summaries.append(SetMemorisation(path, method, dpc, len(texts), sum(d["exact"] for d in per_text),
                                         int((sims >= NEAR_DUPLICATE).sum()), round(float(sims.mean()), 4)))
    return summaries, details


def memorisation_markdown(summaries: list[SetMemorisation]) -> str:
    lines = ["| set | method | DPC | texts | exact copies | near copies (cos ≥ 0.95) | mean nearest cos |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {s.set_path} | {s.method} | {s.dpc} | {s.texts} | {s.exact} | {s.near} | {s.mean_similarity:.3f} |"
              for s in summaries]
    return "\n".join(lines)


def _dataset_for(name: str, data_cfg: DataConfig, seed: int, holdout: int | None = None,
                 min_words: int = 0) -> Dataset | None:
    """The configured dataset if its spec has this name, else the built-in one, else None. A given
    `holdout` (and `min_words`) replaces the configured one (N > 0: validation is N rows carved out of
    train, as `evaluate` did)."""
    if holdout is not None:
        data_cfg = DataConfig(**{**asdict(data_cfg), "holdout": holdout, "holdout_min_words": min_words})
    try:
        if resolve_spec(data_cfg)[0].name == name:
            return load_dataset(data_cfg, seed)
    except DilmError:
        pass
    if name in DATASETS:
        return load_dataset(DataConfig(dataset=name, holdout=holdout or 0,
                                       holdout_min_words=min_words if holdout else 0), seed)
    return None


# ---- the report --------------------------------------------------------------------------------

def _slug(*parts: str) -> str:
    return "_".join(re.sub(r"[^\w.-]+", "-", Path(p).name or p).strip("-") for p in parts)


def group_records(records: list[RunRecord]) -> dict[tuple[str, str, str], list[RunRecord]]:
    groups: dict[tuple[str, str, str], list[RunRecord]] = {}
    for r in records:
        groups.setdefault((r.dataset, r.key.learner, r.key.protocol), []).append(r)
    return groups


def write_report(store_path: str | Path, out: str | Path, cfg: RunConfig | None = None,
                 reference: str = "kcenters", per_class: int = 3, memorisation: bool = True) -> list[Path]:
    """Write report.md, <dataset>_<learner>.json/.png per group, examples.md and the memorisation
    files into `out`; return the written paths. `cfg` gives the learner and dataset for the
    memorisation check."""
    if not Path(store_path).exists():
        raise DilmError(f"results store not found: {store_path}")
    with ResultStore(store_path) as store:
        records = store.query()
    if not records:
        raise DilmError(f"results store {store_path} holds no runs")
    out = Path(out)
    groups = group_records(records)
    pairs = [(d, lrn) for d, lrn, _ in groups]
    lines = ["# Evaluation report", "", f"{len(records)} runs from `{store_path}`. Cells: mean ± sample std "
             f"(runs), in percent; `*` marks p < 0.05 against `{reference}` (Welch's t-test).", ""]
    written = []
    for (dataset, learner, protocol), recs in groups.items():
        slug = _slug(dataset, learner) + (f"_{protocol[:8]}" if pairs.count((dataset, learner)) > 1 else "")
        table = results_table(recs, reference)
        write_json(out / f"{slug}.json", table_json(table))
        written.append(out / f"{slug}.json")
        lines += [f"## {dataset} · learner `{learner}` · protocol `{protocol}`", "",
                  f"Metric: {recs[0].metric}. Protocol: `{json.dumps(recs[0].protocol_fields, sort_keys=True)}`.", "",
                  markdown_table(table, reference), "", f"Numbers: [{slug}.json]({slug}.json)", ""]
        lines += _majority_line(dataset, recs[0], cfg or RunConfig())
        if scaling_plot(table, out / f"{slug}_scaling.png", f"{dataset}, learner {Path(learner).name}"):
            lines += [f"![DPC scaling]({slug}_scaling.png)", ""]
            written.append(out / f"{slug}_scaling.png")
    set_paths = [Path(p) for p in dict.fromkeys(r.set_path for r in records)]
    missing = [p for p in set_paths if not p.exists()]
    for p in missing:
        log.warning("set file %s is in the store but not on disk: left out of the examples", p)
    write_text(out / "examples.md", examples_markdown([p for p in set_paths if p.exists()], per_class))
    written.append(out / "examples.md")
    lines += ["Example texts per class from each set: [examples.md](examples.md)", ""]
    if memorisation:
        lines += _memorisation_section(records, cfg or RunConfig(), out, written)
    write_text(out / "report.md", "\n".join(lines))
    return [out / "report.md", *written]


def _majority_line(name: str, record: RunRecord, cfg: RunConfig) -> list[str]:
    """What always predicting the most frequent class of the scored split gets, when that split loads."""
    holdout = int(record.protocol_fields.get("holdout", 0) or 0)
    seed = int(record.protocol_fields.get("holdout_seed", cfg.seed))
    try:
        dataset = _dataset_for(name, cfg.data, seed, holdout,
                               int(record.protocol_fields.get("holdout_min_words", 0) or 0))
    except DilmError as e:
        log.info("majority-class reference for '%s' skipped: %s", name, e)
        return []
    if dataset is None or not dataset.validation:
        return []
    gold, spec = dataset.validation.labels, dataset.spec
    top, score = majority_score(record.metric, gold, spec.num_classes)
    share = 100 * sum(g == top for g in gold) / len(gold)
    return [f"Reference: always predicting the most frequent class of the scored rows ('{spec.label_names[top]}', "
            f"{share:.1f}% of {len(gold)}) scores {score:.1f} ({record.metric}).", ""]


def _memorisation_section(records: list[RunRecord], cfg: RunConfig, out: Path, written: list[Path]) -> list[str]:
    by_dataset: dict[str, dict[str, tuple[str, str, int]]] = {}
    for r in records:
        if not r.method.startswith(REAL_DATA_METHODS) and Path(r.set_path).exists():
            by_dataset.setdefault(r.dataset, {})[r.set_path] = (r.set_path, r.method, r.dpc)
    summaries, details = [], []
    for name, sets in by_dataset.items():
        dataset = _dataset_for(name, cfg.data, cfg.seed)
        if dataset is None:
            log.info("memorisation check: dataset '%s' cannot be loaded here (give --dataset); skipped", name)
            continue
        s, d = memorisation_check(list(sets.values()), dataset, cfg.model.learner, cfg.model.max_length,
                                  cfg.precision)
        summaries += s
        details += d
    if not summaries:
        return ["No generated sets to check for memorisation.", ""]
    write_json(out / "memorisation.json", [asdict(s) for s in summaries])
    with atomic_open(out / "memorisation.jsonl") as f:
        f.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in details)
    written += [out / "memorisation.json", out / "memorisation.jsonl"]
    return ["## Memorisation", "", f"Nearest training text of each generated text (cosine of `{cfg.model.learner}` "
            "mean-pooled embeddings); per-text detail in [memorisation.jsonl](memorisation.jsonl).", "",
            memorisation_markdown(summaries), ""]
