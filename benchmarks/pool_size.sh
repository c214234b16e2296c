#!/usr/bin/env bash
# DPC 5: how big should each trial candidate's pool be, for the same sampling?
#
# The `cpu` preset draws a 2,000-a-class pool and, at DPC 5, cuts it into 4 candidates of 500 (generate.trials=4),
# trains the learner on each and keeps the best on a probe. The M = 8 study found candidates from 250 samples worse
# than from 500 (docs/method.md), so a bigger part may make a better candidate. Here the same pools are cut into
# 2 candidates of 1,000 (`half`, best-A kept) and 1 of the whole 2,000 (`whole`, no trial needed), posterior
# filter q = 0.6 and herding of mean-pooled embeddings as the preset, and compared with the preset's cut. Pools: the
# four committed ones of Table 1's two generators (docs/results/tuning/pool_selection/pools, .../trial_more/pools)
# and the two top-p 0.95 pools of the fp32 run's generator (docs/results/tuning/top_p/pools). Each set is scored
# on a carve-out of train, never on validation: A on the whole-sentence carve-out (data.holdout=1000
# data.holdout_min_words=12, seed 0), B on the one of seed=1. The preset's candidates of the same pools were scored
# the same way by benchmarks/filter_strength.sh and benchmarks/top_p.sh, and their stores are read as they are.
# benchmarks/pool_size.py writes the summary.
#
#   bash benchmarks/pool_size.sh        (resumable; CUTS="whole" for one cut)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
OUT=docs/results/tuning/pool_size
R=docs/results/tuning
POOLS=($R/pool_selection/pools/generator0_seed0.jsonl $R/pool_selection/pools/generator1_seed1.jsonl
       $R/trial_more/pools/generator0_seed10.jsonl $R/trial_more/pools/generator1_seed11.jsonl
       $R/top_p/pools/top_p0.95.jsonl $R/top_p/pools/top_p0.95_seed21.jsonl)
SEEDS=(0 1 10 11 20 21)
CUTS=${CUTS:-"whole half"}
L=(env DILM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node 2 -m dilm)
HOLD=(--preset cpu data.holdout=1000 data.holdout_min_words=12 --runs 1)
for cut in $CUTS; do
  case $cut in
    whole) cut_args=(--oversample 400 --chunks 1) ;;
    half) cut_args=(--oversample 200 --chunks 2) ;;
    *) echo "unknown cut $cut (whole, half)" >&2; exit 1 ;;
  esac
  [ -d $OUT/$cut/sets ] || .venv/bin/python benchmarks/pool_selection.py $OUT/$cut --pool "${POOLS[@]}" \
      --seed "${SEEDS[@]}" --variant herding:mean:0.6 --dpc 5 "${cut_args[@]}"
  "${L[@]}" evaluate $OUT/$cut/sets/sst2/herding_mean_q0.6/dpc_5 "${HOLD[@]}" --store $OUT/a.sqlite
  "${L[@]}" evaluate $OUT/$cut/sets/sst2/herding_mean_q0.6/dpc_5 "${HOLD[@]}" seed=1 --store $OUT/b.sqlite
done
.venv/bin/python benchmarks/pool_size.py $OUT/summary.json \
    --cut quarter:4:$R/filter_strength/first/sets/sst2/herding_mean_q0.6,$R/filter_strength/second/sets/sst2/herding_mean_q0.6,$R/top_p/arms/sst2/top_p0.95 \
    --cut half:2:$OUT/half/sets/sst2/herding_mean_q0.6 --cut whole:1:$OUT/whole/sets/sst2/herding_mean_q0.6 \
    --a $R/filter_strength/a.sqlite $R/top_p/a.sqlite $OUT/a.sqlite --b $R/filter_strength/b.sqlite $R/top_p/b.sqlite $OUT/b.sqlite
