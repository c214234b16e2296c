#!/usr/bin/env bash
# More trial candidates from smaller parts? DPC-5 candidates as `generate.trials=8` cuts them (8 disjoint
# 250-sample parts of each class's 2,000-sample pool; the `cpu` preset's trials=4 uses 500-sample parts),
# from Table 1's two generators' pools, picked as the preset does (posterior filter q = 0.6, herding
# of mean-pooled embeddings). Each of the 16 sets is scored twice, like benchmarks/set_stability.sh:
# A on the whole-sentence carve-out with seed 0 (data.holdout=1000 data.holdout_min_words=12), B on
# the one of seed=1 (carve-out and learner seed). Never the validation split. The summary gives, per
# number of candidates M, the B score of the best-A candidate averaged over every M-subset of a
# generator's 8; summary_subsets.json in tuning/set_stability is the same for the 500-sample parts.
#
#   bash benchmarks/trial_count.sh      (resumable: stored runs are skipped)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
OUT=docs/results/tuning/trial_count
P=docs/results/tuning/pool_selection/pools
L=(env DILM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node 2 -m dilm)
SETS=$OUT/sets/sst2/herding_mean_q0.6/dpc_5
[ -d "$SETS" ] || .venv/bin/python benchmarks/pool_selection.py $OUT --pool $P/generator0_seed0.jsonl \
    $P/generator1_seed1.jsonl --seed 0 1 --variant herding:mean:0.6 --dpc 5 --chunks 8 --oversample 50
HOLD=(--preset cpu data.holdout=1000 data.holdout_min_words=12 --runs 1)
"${L[@]}" evaluate $SETS "${HOLD[@]}" --store $OUT/a.sqlite
"${L[@]}" evaluate $SETS "${HOLD[@]}" seed=1 --store $OUT/b.sqlite
.venv/bin/python benchmarks/set_stability.py $OUT/a.sqlite $OUT/b.sqlite $OUT/summary.json --group 8 --subsets 1 2 4 8
.venv/bin/python benchmarks/set_stability.py docs/results/tuning/sentence_carveout/results.sqlite \
    docs/results/tuning/set_stability/results.sqlite docs/results/tuning/set_stability/summary_subsets.json --subsets 1 2 4
