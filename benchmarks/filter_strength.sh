#!/usr/bin/env bash
# DPC 5: a stricter posterior filter (generate.posterior_keep 0.4 and 0.2 against the `cpu` preset's 0.6).
#
# The candidates are cut from the four committed 2,000-sample pools of Table 1's two generators (their first
# pools, docs/results/tuning/pool_selection/pools, and their second, docs/results/tuning/trial_more/pools) as
# the preset cuts them: 4 parts of 500 a pool, herding of mean-pooled embeddings, with each keep share q; so
# 16 candidates a variant, the same pool parts in every variant. Each candidate is scored on a carve-out
# of train, never on validation: A on the whole-sentence carve-out (data.holdout=1000
# data.holdout_min_words=12, seed 0), then B on the one of seed=1. benchmarks/filter_strength.py gives
# every variant's A scores, their paired difference from q = 0.6, and the B score of each pool's best-A
# candidate (the trial pick's set, scored without its selection bias). Every set is built and scored
# on this machine, so q = 0.6 is rescored here rather than read from the earlier (bf16) stores.
#
#   bash benchmarks/filter_strength.sh            (resumable; SCORINGS="a" for the A scoring only)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
OUT=docs/results/tuning/filter_strength
P=docs/results/tuning/pool_selection/pools
T=docs/results/tuning/trial_more/pools
VARIANTS=${VARIANTS:-"herding_mean_q0.6 herding_mean_q0.4 herding_mean_q0.2"}
SCORINGS=${SCORINGS:-"a b"}
L=(env DILM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node 2 -m dilm)
V=(--variant herding:mean:0.6 herding:mean:0.4 herding:mean:0.2 --dpc 5 --chunks 4)
[ -d $OUT/first/sets ] || .venv/bin/python benchmarks/pool_selection.py $OUT/first \
    --pool $P/generator0_seed0.jsonl $P/generator1_seed1.jsonl --seed 0 1 "${V[@]}"
[ -d $OUT/second/sets ] || .venv/bin/python benchmarks/pool_selection.py $OUT/second \
    --pool $T/generator0_seed10.jsonl $T/generator1_seed11.jsonl --seed 10 11 "${V[@]}"
for s in $SCORINGS; do
  if [ "$s" = a ]; then extra=(); else extra=(seed=1); fi
  for v in $VARIANTS; do
    for g in first second; do
      "${L[@]}" evaluate $OUT/$g/sets/sst2/$v/dpc_5 --preset cpu data.holdout=1000 data.holdout_min_words=12 \
          "${extra[@]}" --runs 1 --store $OUT/$s.sqlite
    done
  done
done
B=(); [ -f $OUT/b.sqlite ] && B=(--b $OUT/b.sqlite)
.venv/bin/python benchmarks/filter_strength.py $OUT/summary.json --sets $OUT/first/sets/sst2 $OUT/second/sets/sst2 \
    --a $OUT/a.sqlite "${B[@]}" --variant $VARIANTS
