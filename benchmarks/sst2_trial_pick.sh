#!/usr/bin/env bash
# Does choosing a DPC-5 set by a trial run help on SST-2 validation? Table 1's DiLM DPC-5 sets are the
# first 500-sample part of each generator's pool (herding, [CLS], posterior filter q = 0.6); the same
# pools cut into 4 parts give 4 candidates per generator (docs/results/tuning/pool_selection/sets,
# herding_cls_q0.6 sets 0-3: generator 0, 4-7: generator 1). The candidate whose learner scored best on
# the whole-sentence train carve-out (benchmarks/sentence_carveout.sh, seed 0) is what
# `generate.trials=4 generate.trial_min_words=12` keeps, up to the probe rows; this scores those two
# sets on the validation split, 5 learner seeds each, into their own store, and compares them with
# Table 1's cells (same protocol): the table of commit be062ba (trials off), archived in
# docs/results/sst2_table1_be062ba/.
#
#   bash benchmarks/sentence_carveout.sh; bash benchmarks/set_stability.sh; bash benchmarks/sst2_trial_pick.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
OUT=docs/results/sst2_trial_pick
SETS=docs/results/sets/sst2/dilm_trial_pick/dpc_5
mkdir -p "$OUT" "$SETS"
mapfile -t WINNERS < <(.venv/bin/python -c "
import json
print('\n'.join(json.load(open('docs/results/tuning/set_stability/summary.json'))['by_method']['herding_cls_q0.6']['best_a_per_group']))")
for i in "${!WINNERS[@]}"; do cp -n "${WINNERS[$i]}" "$SETS/set_$i.jsonl"; cmp "${WINNERS[$i]}" "$SETS/set_$i.jsonl"; done
env DILM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node 2 -m dilm evaluate "$SETS" \
    --preset cpu --runs 5 --store "$OUT/results.sqlite"
.venv/bin/python benchmarks/compare_stores.py "$OUT/results.sqlite" docs/results/sst2_table1_be062ba/results.sqlite \
    "$OUT/summary.json" --method dilm_trial_pick --dpc 5
