#!/usr/bin/env bash
# How should DiLM's sets be picked from the generation pool? Measured on a carve-out of train, never
# on validation: 2,000 training rows held out (data.holdout=2000) score the learner trained on each set
# (the paper's protocol). Variants `selection:features:keep`: K-centers (the paper) or herding, of the
# learner's mean or [CLS] embedding, after the posterior filter keeps the share `keep` (1 = off).
#
# The pools are Table 1's: generator 0 (runs/cpu, generation seed 0) and generator 1 (runs/cpu_seed1,
# seed 1), 2,000 samples a class each, sampled once by benchmarks/posterior_filter.py (in $OUT/pools/) (with q = 1 and
# K-centers of mean embeddings the sets equal those runs' own). DPC 5 cuts 4 disjoint 500-sample pools
# from each (8 sets a variant, 1 learner seed each); DPC 20 uses the whole pool (2 sets x 3 seeds).
# Real-data herding on the same carve-out gives the scale. Caveat: the generators were trained on all
# of train, the carve-out included, so the absolute DiLM numbers here flatter it; the variants share
# that, so the comparison between them stands.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
OUT=${OUT:-docs/results/tuning/pool_selection}  # sets, pools and the store are committed there
STORE=$OUT/results.sqlite
L=(env DILM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node 2 -m dilm)
HOLD=(--preset cpu data.holdout=2000 --store "$STORE")
P0=$OUT/pools/generator0_seed0.jsonl
P1=$OUT/pools/generator1_seed1.jsonl
[ -f $P0 ] || .venv/bin/python benchmarks/posterior_filter.py docs/results/conditioning/sst2_posterior_filter.json \
    runs/cpu/generator_distilled --pool $P0 --selection kcenters --features mean
[ -f $P1 ] || .venv/bin/python benchmarks/posterior_filter.py docs/results/conditioning/sst2_posterior_filter_seed1.json \
    runs/cpu_seed1/generator_distilled --pool $P1 --seed 1 --selection kcenters --features mean
VARIANTS=${VARIANTS:-"kcenters:mean:1 kcenters:mean:0.6 kcenters:cls:1 kcenters:cls:0.6 herding:cls:0.6 herding:mean:0.6"}
DPCS=${DPCS:-"5 20"}
# shellcheck disable=SC2086
.venv/bin/python benchmarks/pool_selection.py "$OUT" --pool $P0 $P1 --seed 0 1 --variant $VARIANTS --dpc $DPCS
name() { echo "$1" | awk -F: '{print $1 "_" $2 "_q" $3}'; }
[ -d $OUT/sets/sst2/herding_real ] || .venv/bin/dilm coreset --preset cpu data.holdout=2000 --method herding \
    --features cls --label herding_real --dpc $DPCS --sets-dir $OUT/sets/sst2/herding_real
for k in $DPCS; do
  runs=$([ "$k" -le 5 ] && echo 1 || echo 3)
  for v in $VARIANTS; do "${L[@]}" evaluate $OUT/sets/sst2/"$(name "$v")"/dpc_$k "${HOLD[@]}" --runs "$runs"; done
  "${L[@]}" evaluate $OUT/sets/sst2/herding_real/dpc_$k "${HOLD[@]}" --runs 4
done
.venv/bin/python benchmarks/pool_selection.py --summary "$STORE" docs/results/tuning/pool_selection.json
