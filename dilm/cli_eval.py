"""Command line for the evaluation side: `dilm coreset`, `dilm evaluate`, `dilm icl`, `dilm report`.

`dilm.cli` registers these subcommands with `COMMANDS`/`add_arguments` and hands them to
`dispatch`; `dilm.cli.main` is the entry point for all of them.
"""

from __future__ import annotations

import argparse

from dilm.cli_common import ListOption, add_config_arguments, data_overrides, is_override_not_path
from dilm.config import RunConfig, load_config
from dilm.errors import DilmError
from dilm.store import DEFAULT_STORE

COMMANDS = {
    "coreset": "baseline sets of real training rows: random, K-centers or herding per class",
    "evaluate": "train a fresh learner on each set (paper protocol) and store its validation score",
    "icl": "in-context learning: classify validation examples with a set as k-shot demonstrations",
    "report": "tables, DPC-scaling plot, examples and a memorisation check from the results store",
}
def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    """Add subcommand `name`'s arguments (config flags included) to its parser."""
    if name in ("evaluate", "icl"):
        p.add_argument("items", nargs="+", metavar="SET|key=value",
                       help="set files or folders of set_*.jsonl, and config overrides (key=value)")
        p.add_argument("--store", default=DEFAULT_STORE, help=f"results store (default {DEFAULT_STORE})")
        p.add_argument("--method", help="method label of the sets (default: from their path)")
        p.add_argument("--dpc", type=int, help="DPC label of the sets (default: from their path)")
    if name == "evaluate":
        p.add_argument("--learner", action="append", help="learner to train (repeat for several; "
                       "default: model.learner)")
        p.add_argument("--runs", type=int, default=1, help="seeds per set and learner (seed, seed+1, ...)")
        p.add_argument("--steps", type=int, help="learner steps (default: the paper's 200)")
    elif name == "icl":
        p.add_argument("--model", default="smollm2-135m", help="causal LM: short name, HF folder or hub name "
                       "(default smollm2-135m)")
        p.add_argument("--orders", type=int, default=5, help="demonstration orders per set (shuffles seeded 0..R-1)")
        p.add_argument("--limit", type=int, help="score only the first N validation examples (default: all)")
        p.add_argument("--max-context", type=int, help="prompt tokens (default: the model's context length)")
    else:
        p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. seed=1")
    if name == "coreset":
        p.add_argument("--method", required=True, choices=("random", "kcenters", "herding"))
        p.add_argument("--dpc", action=ListOption, convert=int, help="data per class (default: generate.dpc)")
        p.add_argument("--num-sets", type=int, default=1, help="sets per DPC (seeds seed, seed+1, ...)")
        p.add_argument("--features", choices=("mean", "cls"), help="learner features (default: features)")
        p.add_argument("--label", help="method name the sets are filed under in results (default: "
                       "random, kcenters_<features> or herding_<features>)")
        p.add_argument("--out", help="run folder: sets go to <out>/sets/<label>/dpc_<k>/ (same as out_dir=...)")
        p.add_argument("--sets-dir", help="write dpc_<k>/set_<i>.jsonl here instead of <out>/sets")
    if name == "report":
        p.add_argument("--store", default=DEFAULT_STORE, help=f"results store (default {DEFAULT_STORE})")
        p.add_argument("--out", required=True, help="report folder")
        p.add_argument("--reference", default="kcenters", help="method the p-values compare against")
        p.add_argument("--examples-per-class", type=int, default=3)
        p.add_argument("--no-memorisation", action="store_true", help="skip the memorisation check")
    add_config_arguments(p)


def config_from_args(args: argparse.Namespace, overrides: list[str]) -> RunConfig:
    extra = data_overrides(args)
    if getattr(args, "out", None) is not None and args.command == "coreset":
        extra.append(f"out_dir={args.out}")
    return load_config(args.preset, [*overrides, *extra])


def _config_and_sets(args: argparse.Namespace) -> tuple[RunConfig, list]:
    """The config (overrides among the positional items) and the `SetInfo`s of the set items."""
    from dilm.sets import describe_set, expand_set_paths

    overrides = [i for i in args.items if is_override_not_path(i)]  # an existing path is a path
    paths = expand_set_paths([i for i in args.items if not is_override_not_path(i)])
    if not paths:
        raise DilmError("give at least one set file (or a folder of set_*.jsonl)")
    cfg = config_from_args(args, overrides)
    return cfg, [describe_set(p, args.method, args.dpc) for p in paths]


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "coreset":
        from dilm.coreset_sets import CoresetPlan, run_coreset

        cfg = config_from_args(args, args.overrides)
        plan = CoresetPlan(args.method, tuple(args.dpc or cfg.generate.dpc), args.num_sets,
                           args.features or cfg.features, cfg.seed, args.label)
        for path in run_coreset(cfg, plan, args.sets_dir):
            print(path)
    elif args.command == "evaluate":
        from dilm.evaluate import run_evaluate
        from dilm.learner import TrainConfig

        cfg, sets = _config_and_sets(args)
        protocol = TrainConfig(steps=args.steps) if args.steps is not None else TrainConfig()
        records = run_evaluate(cfg, sets, args.learner or [], args.runs, args.store, protocol)
        print(f"{len(records)} new runs stored in {args.store}")
    elif args.command == "icl":
        from dilm.icl import run_icl

        cfg, sets = _config_and_sets(args)
        records, lines = run_icl(cfg, sets, args.model, args.orders, args.store, args.limit, args.max_context)
        for line in lines:
            print(line)
        print(f"{len(records)} new runs stored in {args.store}")
    elif args.command == "report":
        from dilm.report import write_report

        cfg = config_from_args(args, args.overrides)
        for path in write_report(args.store, args.out, cfg, args.reference, args.examples_per_class,
                                 not args.no_memorisation):
            print(path)
    else:
        raise DilmError(f"unknown command '{args.command}'")
    return 0
