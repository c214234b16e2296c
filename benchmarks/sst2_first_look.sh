#!/usr/bin/env bash
# A first look, not the evaluation issue's Table 1: the DiLM sets of `dilm run --preset cpu`
# (runs/cpu, one set per DPC, 3 learner seeds) against random and K-centers (mean features)
# coresets of real SST-2 rows (3 sets each, 1 seed) and the vanilla LM (step 1 + 3; DPC 20 with
# 2 seeds only, for time), DPC 5 and 20, learner minilm-l6, the paper's
# evaluation protocol (200 steps, AdamW 1e-4, ...) scored on the SST-2 validation split.
# Writes docs/results/first_look/ (report.md, JSON, plot, examples, memorisation check, store);
# copies of the evaluated sets are committed under docs/results/first_look/sets/<method>/.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
D=.venv/bin/dilm
OUT=docs/results/first_look
STORE=$OUT/results.sqlite
mkdir -p "$OUT"
[ -f runs/cpu/sets/dpc_20/set_0.jsonl ] || { echo "run 'dilm run --preset cpu' first" >&2; exit 2; }
$D coreset --preset cpu --method random --dpc 5 20 --num-sets 3 --sets-dir runs/baselines/random
$D coreset --preset cpu --method kcenters --features mean --dpc 5 20 --num-sets 3 --sets-dir runs/baselines/kcenters
$D evaluate runs/cpu/sets/dpc_5 runs/cpu/sets/dpc_20 --preset cpu --runs 3 --store "$STORE"
$D evaluate runs/baselines/random runs/baselines/kcenters --preset cpu --runs 1 --store "$STORE"
# vanilla LM: the same generate + K-centers from the generator after step 1 only (no gradient matching)
$D generate --preset cpu --generator runs/cpu/generator_pretrained --out runs/cpu_vanilla
$D evaluate runs/cpu_vanilla/sets/dpc_5 --preset cpu --method vanilla_lm --runs 3 --store "$STORE"
$D evaluate runs/cpu_vanilla/sets/dpc_20 --preset cpu --method vanilla_lm --runs 2 --store "$STORE"
$D report --preset cpu --store "$STORE" --out "$OUT" --reference kcenters_mean
