#!/usr/bin/env bash
# Could a DPC-5 set be chosen by a trial run on train rows? Scores the DPC-5 sets that
# benchmarks/sentence_carveout.sh scored on its whole-sentence carve-out (data.holdout=1000,
# data.holdout_min_words=12, seed 0: carve-out and learner seed) a second time, on the carve-out
# and learner seed of `seed=1` (another 1,000 long train rows; about 50 rows shared by chance), then
# compares the two scorings set by set (benchmarks/set_stability.py). Never the validation split.
#
#   bash benchmarks/sentence_carveout.sh first (DPC 5 part), then bash benchmarks/set_stability.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
A=docs/results/tuning/sentence_carveout
OUT=docs/results/tuning/set_stability
L=(env DILM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node 2 -m dilm)
VARIANTS=${VARIANTS:-"herding_cls_q0.6 herding_mean_q0.6 herdtrain_cls_q0.6 kcenters_mean_q1"}
mkdir -p "$OUT"
for v in $VARIANTS; do
  d=$A/sets/sst2/$v/dpc_5
  [ -d "$d" ] || d=docs/results/tuning/pool_selection/sets/sst2/$v/dpc_5
  "${L[@]}" evaluate "$d" --preset cpu data.holdout=1000 data.holdout_min_words=12 seed=1 \
      --store "$OUT/results.sqlite" --runs 1
done
.venv/bin/python benchmarks/set_stability.py $A/results.sqlite "$OUT/results.sqlite" "$OUT/summary.json"
# the same against the plain carve-out's scores (benchmarks/pool_selection.sh: 2,000 rows, mostly phrases)
.venv/bin/python benchmarks/set_stability.py docs/results/tuning/pool_selection/results.sqlite "$OUT/results.sqlite" \
    "$OUT/summary_plain_probe.json"
