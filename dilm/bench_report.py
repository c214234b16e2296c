"""Report of the performance benchmark: the results table, docs/performance.md, and the
`dilm bench` / `python benchmarks/bench.py` command line (the measuring is in `dilm.bench`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dilm.bench import GRAD_TOLERANCE, SIZES, BenchOptions, run_bench
from dilm.errors import DilmError
from dilm.io import write_json, write_text
from dilm.precision import PRECISIONS, Rates, choose_cpu
from dilm.runtime import setup_logging

JSON_PATH, MD_PATH = "docs/results/bench.json", "docs/performance.md"


def table_rows(r: dict) -> list[tuple[str, str, str]]:
    """(measurement, value, how) rows of the results table."""
    s = r["sizes"]
    precision = r.get("precision", "bf16")  # results from before `precision: auto` ran the tool in bf16
    how = "bf16 autocast" if precision == "bf16" else "fp32"
    gm = f"N={s['syn_per_class']}, M={s['real_per_class']}, {r['num_classes']} classes, median of {s['gm_steps']}"
    gen = ", ".join(f"b={b}: {v['samples_per_s']:.1f}/s" for b, v in r["gen_by_batch"].items())
    return [
        ("matmul bf16", f"{r['matmul_bf16_gflops']:.1f} GFLOP/s", f"best (n, n) @ (n, n), n={r['matmul_n']}"),
        ("matmul fp32", f"{r['matmul_fp32_gflops']:.1f} GFLOP/s", f"n={r['matmul_n']}"),
        ("GM update, straightforward", f"{r['gm_step_naive_s']:.3f} s",
         f"{gm}; autograd through the learner, fp32, padded, activation checkpointing"),
        ("GM update, tool", f"{r['gm_step_s']:.3f} s", f"{gm}; `distill.generator_step`, {how}"),
        ("GM update, tool in fp32", f"{r['gm_step_tool_fp32_s']:.3f} s", "the same in fp32"),
        ("speed-up", f"{r['gm_step_speedup']:.2f}x", "straightforward / tool"),
        ("floor", f"{r['gm_floor_s']:.3f} s", (f"{r['gm_floor_gflop']:.1f} GFLOP: 6 P_gen x {r['gm_floor_gen_tokens']} "
         f"+ 2 P_learner x {r['gm_floor_learner_tokens']} unpadded tokens, at the {precision} matmul rate")),
        ("tool / floor", f"{r['gm_step_floor_ratio']:.2f}x", "target <= 1.5x"),
        ("GM update, tool + LoRA", "n/a (no peft)" if r.get("gm_step_lora_s") is None else
         f"{r['gm_step_lora_s']:.3f} s", f"`distill.lora_rank={r.get('gm_lora_rank')}`: adapters on every "
         "projection trainable, the rest frozen"),
        ("gradient check", f"{r['gm_grad_rel_error']:.2e} ({'pass' if r['gm_grad_match'] else 'FAIL'})",
         (f"fp32 generator gradients of both forms, relative error < {GRAD_TOLERANCE:g}; matching distance "
          f"{r['gm_distance_naive']:.3g} / {r['gm_distance_tool_fp32']:.3g}")),
        ("K learner steps", f"{r['learner_k_steps_s']:.3f} s", f"K={r['learner_k']}, batch {r['learner_batch']}, {precision}"),
        ("generation", f"{r['gen_samples_per_s']:.1f} samples/s, {r['gen_tokens_per_s']:.0f} tokens/s",
         f"top-p 0.95, KV cache, <= {r['gen_max_new_tokens']} new tokens; {gen}"),
        ("evaluation run", f"{r['eval_run_dpc20_s']:.2f} s",
         f"`train_learner`, {r['eval_steps']} steps, DPC {r['eval_dpc']} real rows"),
        ("embed train split", f"{r['embed_train_s']:.2f} s",
         f"{r['kcenters_sst2_rows']} rows, mean pooling (fast when cached)"),
        ("k-centers, train features", f"{r['kcenters_sst2_s']:.2f} s",
         f"one teacher set: k={r['kcenters_sst2_k_per_class']} per class of {r['kcenters_sst2_rows']} rows"),
        ("k-centers, random", f"{r['kcenters_400k_s']:.2f} s",
         f"{r['kcenters_random_shape'][0]} x {r['kcenters_random_shape'][1]}, k={r['kcenters_random_k']}"),
        ("peak RSS", f"{r['peak_rss_gb']:.2f} GB", "whole process (ru_maxrss)"),
    ]


# Issue 4's targets on the 2-core machine: (bench key, label, bound, "min" or "max")
TARGETS = [
    ("gm_step_speedup", "GM update vs the straightforward form", 5.0, "min"),
    ("gm_step_floor_ratio", "GM update / floor", 1.5, "max"),
    ("eval_run_dpc20_s", "evaluation run, DPC 20 (s)", 60.0, "max"),
    ("kcenters_400k_s", "K-centers, 400k x 768 (s)", 60.0, "max"),
    ("peak_rss_gb", "peak RSS of the bench (GB)", 8.0, "max"),
]


def target_rows(r: dict) -> list[tuple[str, float, str, bool]]:
    """(target, measured, bound as text, met) for each target whose key is in the results."""
    rows = []
    for key, label, bound, kind in TARGETS:
        if r.get(key) is None:
            continue
        met = r[key] >= bound if kind == "min" else r[key] <= bound
        rows.append((label, float(r[key]), f"{'>=' if kind == 'min' else '<='} {bound:g}", met))
    return rows


def format_targets(r: dict) -> str:
    rows = ["| target | measured | bound | met |", "|---|---|---|---|"]
    rows += [f"| {a} | {v:.2f} | {b} | {'yes' if ok else '**no**'} |" for a, v, b, ok in target_rows(r)]
    return "\n".join(rows)


def format_table(r: dict) -> str:
    rows = ["| measurement | value | how |", "|---|---|---|"]
    rows += [f"| {a} | {b} | {c} |" for a, b, c in table_rows(r)]
    return "\n".join(rows)


def format_parts(r: dict) -> str:
    how = "VmHWM reset per part" if r["rss_per_part_exact"] else "running process peak (could not reset VmHWM)"
    rows = [f"| part | wall (s) | peak RSS (GB, {how}) |", "|---|---|---|"]
    rows += [f"| {name} | {p['wall_s']:.1f} | {p['peak_rss_gb']:.2f} |" for name, p in r["parts"].items()]
    return "\n".join(rows)


def machine_kind(r: dict) -> str:
    """Which kind of CPU the figures come from: with fast bf16 (AVX-512 BF16/AMX class) or without."""
    rates = Rates(r["matmul_bf16_gflops"], r["matmul_fp32_gflops"])
    capability = r["machine"].get("cpu_capability", "(capability not recorded)")
    choice = choose_cpu(capability, rates)
    kind = ("a CPU with fast bf16 (AVX-512 BF16/AMX class)" if choice.precision == "bf16" else
            "a CPU without fast bf16 (AVX2 or AVX-512 without BF16)")
    return (f"Machine kind: {kind}; {choice.reason} at n={r['matmul_n']}. The tool's parts ran in "
            f"{r.get('precision', 'bf16')} (`precision: auto` picks {choice.precision} on such a machine).")


def performance_markdown(r: dict) -> str:
    m = r["machine"]
    return (f"# Performance\n\nGenerated by `{r['command']}` on {r['date']} (do not edit by hand; rerun it).\n\n"
            f"Machine: {m['cpu']}, {m['cores']} cores, {m['threads']} torch threads, {m['platform']}, "
            f"Python {m['python']}, torch {m['torch']}, transformers {m['transformers']}.\n\n{machine_kind(r)}\n\n"
            f"Models: generator `{r['models']['generator']}`, learner `{r['models']['learner']}`, "
            f"dataset `{r['models']['dataset']}`.\n\n{format_table(r)}\n\n## Memory and time per part\n\n"
            f"{format_parts(r)}\n\n## Targets\n\n{format_targets(r)}\n\nWhat bounds the missed ones, and the "
            "before/after of each speed-up: [speedups.md](speedups.md).\n\nThe synthetic samples of the gradient-matching update are real training rows "
            "encoded by the generator, so both forms see the same SST-2-length sequences; the timed update is "
            "the gradient computation (the optimizer step is the same for both forms and not timed). Raw "
            "numbers: `docs/results/bench.json`.\n")


def write_outputs(res: dict, json_path: str | Path, md_path: str | Path) -> None:
    """The raw results (JSON) and the generated performance page, each written atomically."""
    write_json(json_path, res)
    write_text(md_path, performance_markdown(res))


def main(argv: list[str] | None = None, prog: str = "dilm bench", root: Path | None = None) -> int:
    """Run the benchmark, print the table, write the JSON and the page; 1 if the gradient check fails."""
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(prog=prog, description="Measure the machine's ceiling and every DiLM stage.")
    p.add_argument("--quick", action="store_true", help="reduced sizes and steps (a smoke run)")
    p.add_argument("--sizes", choices=list(SIZES), help="size preset (overrides --quick)")
    p.add_argument("--generator", default=BenchOptions.generator, help="generator name or folder")
    p.add_argument("--learner", default=BenchOptions.learner, help="learner name or folder")
    p.add_argument("--dataset", default=BenchOptions.dataset, help="dataset name or folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="precision of the tool's parts (default auto: this machine's choice)")
    p.add_argument("--out-json", help=f"results file (default {JSON_PATH})")
    p.add_argument("--out-md", help=f"generated page (default {MD_PATH})")
    p.add_argument("--render-only", action="store_true",
                   help="measure nothing: rewrite the page from the results file")
    args = p.parse_args(argv)
    root = root or Path.cwd()
    json_path, md_path = args.out_json or root / JSON_PATH, args.out_md or root / MD_PATH
    if args.render_only:
        try:
            res = json.loads(Path(json_path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            print(f"{prog}: error: cannot read {json_path}: {e}", file=sys.stderr)
            return 2
        write_text(md_path, performance_markdown(res))
        print(f"written: {md_path}")
        return 0
    setup_logging()
    opts = BenchOptions(args.generator, args.learner, args.dataset,
                        args.sizes or ("quick" if args.quick else "full"), args.seed, " ".join([prog, *argv]),
                        args.precision)
    try:
        res = run_bench(opts)
    except DilmError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    write_outputs(res, json_path, md_path)
    print(format_table(res))
    print(f"\nwritten: {json_path}, {md_path}")
    return 0 if res["gm_grad_match"] else 1
