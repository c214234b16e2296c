#!/usr/bin/env bash
# DPC 5: do candidates whose class centroids classify real training rows teach the learner better?
#
# benchmarks/centroid_pick.py starts from the `cpu` preset's candidates of the six pools of benchmarks/pool_size.sh
# (4 parts of 500 a pool, posterior filter q = 0.6, herding of mean-pooled embeddings) and swaps rows for other
# filtered samples of their class while that raises a nearest-centroid score on 1,000 training rows outside both
# carve-outs. Each set is scored like the preset's candidates were (benchmarks/filter_strength.sh, top_p.sh): A on the
# whole-sentence carve-out (data.holdout=1000 data.holdout_min_words=12, seed 0), B on the one of seed=1, never on
# validation. benchmarks/pool_size.py compares them with the preset's candidates of the same pool parts.
#
#   bash benchmarks/centroid_pick.sh        (resumable)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
OUT=docs/results/tuning/centroid_pick
R=docs/results/tuning
L=(env DILM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node 2 -m dilm)
HOLD=(--preset cpu data.holdout=1000 data.holdout_min_words=12 --runs 1)
SETS=$OUT/sets/sst2/centroid_mean_q0.6
[ -d $OUT/sets ] || .venv/bin/python benchmarks/centroid_pick.py $OUT --pool $R/pool_selection/pools/generator0_seed0.jsonl \
    $R/pool_selection/pools/generator1_seed1.jsonl $R/trial_more/pools/generator0_seed10.jsonl \
    $R/trial_more/pools/generator1_seed11.jsonl $R/top_p/pools/top_p0.95.jsonl $R/top_p/pools/top_p0.95_seed21.jsonl \
    --seed 0 1 10 11 20 21
"${L[@]}" evaluate $SETS "${HOLD[@]}" --store $OUT/a.sqlite
"${L[@]}" evaluate $SETS "${HOLD[@]}" seed=1 --store $OUT/b.sqlite
.venv/bin/python benchmarks/pool_size.py $OUT/summary.json \
    --cut quarter:4:$R/filter_strength/first/sets/sst2/herding_mean_q0.6,$R/filter_strength/second/sets/sst2/herding_mean_q0.6,$R/top_p/arms/sst2/top_p0.95 \
    --cut centroid:4:$SETS --a $R/filter_strength/a.sqlite $R/top_p/a.sqlite $OUT/a.sqlite \
    --b $R/filter_strength/b.sqlite $R/top_p/b.sqlite $OUT/b.sqlite
