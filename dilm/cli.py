"""Command line: `dilm {pretrain,distill,generate,run,validate} [--preset P] [key=value ...]`."""

from __future__ import annotations

import argparse
import logging
import sys

from dilm import cli_eval
from dilm.cli_common import TRAILING, ListOption, add_config_arguments, data_overrides, is_override
from dilm.config import load_config
from dilm.errors import DilmError

log = logging.getLogger("dilm")

COMMANDS = {
    "pretrain": "step 1: train the class-conditional generator on the training data",
    "distill": "step 2: fine-tune the generator by gradient matching",
    "generate": "step 3: sample and select a small labelled dataset (any DPC)",
    "run": "all three steps from one config",
    "validate": "check a config, its data and its models without training",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dilm", description="Distil a text-classification dataset "
                                     "into a few readable synthetic texts per class (DiLM).")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("overrides", nargs="*", metavar="key=value",
                       help="config overrides, e.g. distill.lr=1e-5 generate.dpc=[5,10]")
        p.add_argument("--out", help="output folder (same as out_dir=...)")
        add_config_arguments(p)
        p.add_argument("--overwrite", action="store_true", help="reuse an output folder of another run")
        if name in ("distill", "generate"):
            p.add_argument("--generator", help="generator folder to start from (default: this run's latest)")
        if name == "generate":
            p.add_argument("--dpc", action=ListOption, convert=int, help="data per class (one or more)")
            p.add_argument("--num-sets", type=int, help="number of sets per DPC (different seeds)")
    for name, help_text in cli_eval.COMMANDS.items():
        cli_eval.add_arguments(name, sub.add_parser(name, help=help_text, description=help_text))
    bench = sub.add_parser("bench", add_help=False, help="measure this machine and every stage "
                           "(writes docs/results/bench.json; see dilm bench --help)")
    bench.set_defaults(debug=False)  # its own flags are parsed by dilm.bench_report
    return parser


def overrides_from_flags(args: argparse.Namespace) -> list[str]:
    extra = data_overrides(args)
    for flag, key in (("out", "out_dir"), ("num_sets", "generate.num_sets")):
        if getattr(args, flag, None) is not None:
            extra.append(f"{key}={getattr(args, flag)}")
    if getattr(args, "dpc", None):
        extra.append(f"generate.dpc=[{', '.join(str(k) for k in args.dpc)}]")
    return extra


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    rest = [*getattr(args, TRAILING, []), *rest]  # the words that ended a list option come first
    if args.command == "bench":
        args.bench_args = rest
    elif rest and hasattr(args, "items") and not any(r.startswith("-") for r in rest):
        # sets and key=value on both sides of options (argparse fills a positional list only once)
        args.items = [*args.items, *rest]
    elif rest and all(is_override(r) for r in rest):
        # key=value after options: argparse has already filled the positional list before them
        args.overrides = [*getattr(args, "overrides", []), *rest]
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    from dilm import dist
    from dilm.runtime import setup_logging

    setup_logging(logging.DEBUG if args.debug else logging.INFO)
    try:
        dist.init()  # joins a torchrun / accelerate launch process group; a no-op otherwise
        return dispatch(args)
    except DilmError as e:
        if args.debug:
            raise
        print(f"dilm {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dilm {args.command}: interrupted; rerun the same command to resume from the last checkpoint",
              file=sys.stderr)
        return 130


def dispatch(args: argparse.Namespace) -> int:
    if args.command in cli_eval.COMMANDS:
        return cli_eval.dispatch(args)
    if args.command == "bench":
        from dilm.bench_report import main as bench_main

        return bench_main(args.bench_args, prog="dilm bench")
    from dilm import pipeline

    cfg = load_config(args.preset, [*args.overrides, *overrides_from_flags(args)])
    if args.command == "validate":
        for line in pipeline.validate(cfg):
            print(line)
        return 0
    with pipeline.Workspace(cfg, overwrite=args.overwrite) as ws:
        if args.command == "pretrain":
            out = pipeline.run_pretrain(ws)
            print(f"generator written to {out}")
        elif args.command == "distill":
            out = pipeline.run_distill(ws, args.generator)
            print(f"generator written to {out}")
        elif args.command == "generate":
            for path in pipeline.run_generate(ws, args.generator):
                print(path)
        else:
            for path in pipeline.run_all(ws):
                print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
