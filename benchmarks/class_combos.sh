#!/usr/bin/env bash
# Per-class combinations of DPC-5 trial candidates, on the carve-out (never the validation split).
# The candidates are the `cpu` preset's: Table 1's two generators' pools, each class's 2,000 samples
# cut into 4 parts of 500, posterior filter q = 0.6, herding of mean-pooled embeddings
# (docs/results/tuning/pool_selection/sets/sst2/herding_mean_q0.6, sets 0-3 and 4-7). Each generator's 4
# candidates give 4 x 4 - 4 = 12 combinations of their class halves. Each combination is scored twice,
# like the candidates were by benchmarks/set_stability.sh: A on the whole-sentence carve-out with seed 0
# (data.holdout=1000 data.holdout_min_words=12), B on the one of seed=1. The summary sets the B score of
# the best-A combination (any of the 16 a generator has) against the B score of the best-A candidate
# (what trials=4 keeps now).
#
#   bash benchmarks/class_combos.sh      (resumable: stored runs are skipped)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
OUT=docs/results/tuning/class_combos
CANDS=docs/results/tuning/pool_selection/sets/sst2/herding_mean_q0.6/dpc_5
L=(env DILM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node 2 -m dilm)
[ -f $OUT/combos.json ] || .venv/bin/python benchmarks/class_combos.py $OUT --sets $CANDS --group 4
HOLD=(--preset cpu data.holdout=1000 data.holdout_min_words=12 --runs 1 --method combos --dpc 5)
"${L[@]}" evaluate $OUT/sets "${HOLD[@]}" --store $OUT/a.sqlite
"${L[@]}" evaluate $OUT/sets "${HOLD[@]}" seed=1 --store $OUT/b.sqlite
.venv/bin/python benchmarks/class_combos.py --summary $OUT --candidates docs/results/tuning/sentence_carveout/results.sqlite \
    docs/results/tuning/set_stability/results.sqlite --combos $OUT/a.sqlite $OUT/b.sqlite
