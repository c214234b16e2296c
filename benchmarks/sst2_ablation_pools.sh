#!/usr/bin/env bash
# SST-2 ablation of the current `cpu` preset's generation steps (the paper's Table 4 shape), DPC 5: each step
# after sampling switched off in turn, on the pools Table 1's two generators drew
# (docs/results/tuning/pool_selection/pools; benchmarks/sst2_table1_pools.sh says why pools). Learner minilm-l6,
# the paper's protocol, SST-2 validation, fp32; every row 2 generators x 1 set x 5 learner seeds.
#
#   dilm               the full preset: Table 1's DiLM sets, runs carried over from docs/results/sst2_table1
#   dilm_no_refine     no refinement: the sets of the preset before it (commit 4bec359's Table 1, whose trial pick
#                      ran in bf16), scored here in fp32
#   dilm_no_trials     no trial pick (generate.trials=1): the first 500 samples of each class's pool, filtered,
#                      herding, refined
#   dilm_no_filter     no posterior filter (generate.posterior_keep=1): herding, refinement and the trial pick
#                      on the whole pool
#   dilm_no_selection  a random pick from the first 500 samples (no filter, herding, refinement or trial
#                      pick): the 4bec359 ablation's sets of that row, scored here in fp32
#
# The steps before sampling (representative teacher, diverse mini-batches, gradient matching) need the
# generators themselves and are not in this table: benchmarks/sst2_ablation.sh (docs/results/sst2_ablation,
# the 4bec359 preset).
#
#   bash benchmarks/sst2_ablation_pools.sh     (resumable; after benchmarks/sst2_table1_pools.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
OUT=docs/results/sst2_ablation_pools
STORE=$OUT/results.sqlite
SETS=$OUT/sets
P=docs/results/tuning/pool_selection/pools
L=(env DILM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node 2 -m dilm)
mkdir -p "$OUT"
source benchmarks/lib.sh  # put
evaluate() {  # the sets of one row
  "${L[@]}" evaluate "$SETS/$1/dpc_5" --preset cpu --runs 5 --store "$STORE" precision=fp32
}
picks() {  # row name, trial candidates, overrides of the preset: the pipeline's choice (trial_sets.py) on both pools
  local name=$1 trials=$2; shift 2
  .venv/bin/python benchmarks/trial_sets.py runs/ablation_pools/$name --pool $P/generator0_seed0.jsonl \
      $P/generator1_seed1.jsonl --seed 0 1 --dpc 5 --trials "$trials" --trial-rows 500 --trial-min-words 12 --name "$name" \
      --set precision=fp32 "$@"
  for g in 0 1; do put "runs/ablation_pools/$name/sets/sst2/$name/dpc_5/set_$g.jsonl" "$SETS/$name/dpc_5/set_$g.jsonl"; done
  cp "runs/ablation_pools/$name/trials.json" "$OUT/trials_$name.json"
  evaluate "$name"
}

for g in 0 1; do
  put "docs/results/sets/sst2/dilm/dpc_5/set_$g.jsonl" "$SETS/dilm/dpc_5/set_$g.jsonl"
  put "docs/results/4bec359/sets/sst2/dilm/dpc_5/set_$g.jsonl" "$SETS/dilm_no_refine/dpc_5/set_$g.jsonl"
  put "docs/results/sst2_ablation/sets/dilm_no_selection/dpc_5/set_$g.jsonl" "$SETS/dilm_no_selection/dpc_5/set_$g.jsonl"
done
.venv/bin/python benchmarks/carry_runs.py docs/results/sst2_table1/results.sqlite "$STORE" --method dilm --dpc 5 \
    --as dilm --sets "$SETS/dilm"
evaluate dilm  # nothing to do when every run was carried over
evaluate dilm_no_refine
picks dilm_no_trials 1
picks dilm_no_filter 4 generate.posterior_keep=1
evaluate dilm_no_selection
.venv/bin/dilm report --preset cpu --store "$STORE" --out "$OUT" --reference dilm --no-memorisation
