#!/usr/bin/env bash
# SST-2 ablation, the paper's Table 4 shape, on the `cpu` preset of commit 4bec359 (no refinement: every
# generation here passes generate.refine=off; the current preset's ablation of its generation steps is
# benchmarks/sst2_ablation_pools.sh): DiLM at DPC 5 with one part of the
# method switched off at a time, against the full method. Learner minilm-l6, the paper's protocol,
# scored on SST-2 validation; like Table 1, every row is 2 generators (runs/cpu, runs/cpu_seed1:
# `bash benchmarks/sst2_table1.sh` makes both) x 1 set x RUNS learner seeds (default 5: 10 runs a row).
#
#   dilm               the full method: the 4bec359 Table 1's DiLM sets; their runs are carried over from
#                      docs/results/sst2_table1_4bec359/results.sqlite (same sets, protocol and seeds)
#   dilm_no_teacher    distill.representative_teacher=false (random real batches), re-distilled
#   dilm_no_diverse    distill.diverse_sampling=false (plain top-p batches), re-distilled
#   vanilla_lm         no gradient matching: the pre-trained generator, steps 1 + 3
#   dilm_no_filter     no posterior filter (generate.posterior_keep=1), herding as the preset
#   dilm_no_selection  a random pick from the pool: no filter, no herding (the paper's "w/o K-centers")
#
# The trial pick (generate.trials) is not ablated: every row is generated with generate.trials=1, so
# from the first 100 x 5 samples of each class's pool. On Table 1's pools the preset's trials=4 kept
# candidate 0 at DPC 5 for both distilled generators, which is exactly the trials=1 set, so the full
# row is Table 1's DiLM cell as it stands. The re-distilled rows and the vanilla LM sample their own
# 500-sample pools with `dilm generate`; the last two rows pick from the full method's own pools
# (docs/results/tuning/pool_selection/pools, the samples Table 1's generation drew), with
# benchmarks/pool_selection.py, checked here to rebuild the full row's sets byte for byte.
#
# Resumable: finished stages, sets and stored runs are skipped. About 1.5 h on 2 cores (bf16).
# The ablation of the `<bos_c>` generator (code b58ec5f) is kept in docs/results/sst2_ablation_b58ec5f/.
#
#   bash benchmarks/sst2_ablation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
RUNS=${RUNS:-5}
OUT=docs/results/sst2_ablation
STORE=$OUT/results.sqlite
SETS=$OUT/sets
POOLS=docs/results/tuning/pool_selection/pools
FULL=docs/results/4bec359/sets/sst2/dilm/dpc_5
L=(env DILM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node 2 -m dilm)
GEN=(cpu cpu_seed1)  # generator g: runs/${GEN[g]}, trained with seed=g
ONE=(--preset cpu generate.dpc=[5] generate.trials=1 generate.refine=off)
mkdir -p "$OUT"
for g in 0 1; do
  [ -f "runs/${GEN[$g]}/generator_pretrained/model.safetensors" ] || {
    echo "runs/${GEN[$g]}: run 'bash benchmarks/sst2_table1.sh' first" >&2; exit 2; }
done
source benchmarks/lib.sh  # put
evaluate() {  # the sets of one row
  "${L[@]}" evaluate "$SETS/$1/dpc_5" --preset cpu --runs "$RUNS" --store "$STORE"
}

# ---- the full method: Table 1's sets and runs
for g in 0 1; do put "$FULL/set_$g.jsonl" "$SETS/dilm/dpc_5/set_$g.jsonl"; done
.venv/bin/python benchmarks/carry_runs.py docs/results/sst2_table1_4bec359/results.sqlite "$STORE" --method dilm --dpc 5 \
    --as dilm --sets docs/results/4bec359/sets/sst2/dilm
evaluate dilm  # nothing to do when every run was carried over

# ---- picks from the full method's pools
.venv/bin/python benchmarks/pool_selection.py runs/ablation/pool_sets --pool "$POOLS/generator0_seed0.jsonl" \
    "$POOLS/generator1_seed1.jsonl" --seed 0 1 --dpc 5 --chunks 1 --variant herding:mean:0.6 herding:mean:1 random:mean:1
for g in 0 1; do
  cmp "runs/ablation/pool_sets/sets/sst2/herding_mean_q0.6/dpc_5/set_$g.jsonl" "$FULL/set_$g.jsonl"  # the route is the preset's
  put "runs/ablation/pool_sets/sets/sst2/herding_mean_q1/dpc_5/set_$g.jsonl" "$SETS/dilm_no_filter/dpc_5/set_$g.jsonl"
  put "runs/ablation/pool_sets/sets/sst2/random_mean_q1/dpc_5/set_$g.jsonl" "$SETS/dilm_no_selection/dpc_5/set_$g.jsonl"
done
evaluate dilm_no_selection
evaluate dilm_no_filter

# ---- re-distilled generators, and the generator without matching
distilled() {  # row name, overrides...
  local name=$1; shift
  for g in 0 1; do
    local out=runs/ablation/${name}_g$g
    mkdir -p "$out"  # the train embeddings are a content-keyed cache: reuse the run's own
    [ -f "$out/train_features_mean.pt" ] || cp "runs/${GEN[$g]}/train_features_mean.pt" "$out/"
    "${L[@]}" distill "${ONE[@]}" seed=$g --generator "runs/${GEN[$g]}/generator_pretrained" out_dir="$out" "$@"
    "${L[@]}" generate "${ONE[@]}" seed=$g out_dir="$out" "$@"
    put "$out/sets/dpc_5/set_0.jsonl" "$SETS/dilm_$name/dpc_5/set_$g.jsonl"
  done
  evaluate "dilm_$name"
}
distilled no_teacher distill.representative_teacher=false
distilled no_diverse distill.diverse_sampling=false
for g in 0 1; do
  out=runs/ablation/vanilla_g$g
  "${L[@]}" generate "${ONE[@]}" seed=$g --generator "runs/${GEN[$g]}/generator_pretrained" out_dir="$out"
  put "$out/sets/dpc_5/set_0.jsonl" "$SETS/vanilla_lm/dpc_5/set_$g.jsonl"
done
evaluate vanilla_lm

.venv/bin/dilm report --preset cpu --store "$STORE" --out "$OUT" --reference dilm --no-memorisation
for d in runs/ablation/*_g[01]; do  # each generation's config, stage times, samples, metrics
  mkdir -p "$OUT/run/$(basename "$d")"
  for f in config.yaml timings.json samples.md distill_metrics.jsonl; do
    [ ! -f "$d/$f" ] || cp "$d/$f" "$OUT/run/$(basename "$d")/"
  done
done
