#!/usr/bin/env bash
# SST-2, the paper's Table 1 shape, with the current `cpu` preset's generation (generate.refine=centroid since
# this table) for Table 1's two generators, from the pools their generation drew. Random, K-centers, Herding,
# DiLM at DPC 5/10/20 and the full training set; learner minilm-l6, the paper's protocol, SST-2 validation, fp32.
#
# Why from pools: the generators of the 4bec359 table (runs/cpu, runs/cpu_seed1: `dilm run --preset cpu`, seed 0
# and 1, bf16) are not kept, but the 2,000 samples a class each one's generation drew are
# (docs/results/tuning/pool_selection/pools). The preset's change is in the generation only (pre-training and
# distillation keep their fingerprints), and everything the generation does after sampling is
# `choose_rows` (filter, herding, refinement, trial pick), which benchmarks/trial_sets.py runs on those pools.
# So DiLM's sets here are the ones `dilm generate --preset cpu precision=fp32` writes for those generators.
# With both generators at hand, `bash benchmarks/sst2_table1.sh` makes the same table from scratch.
#
# 1. DiLM: `bash benchmarks/sst2_refine.sh` (trial_sets.py on the pools, 2 generators x 5 learner seeds a DPC,
#    in docs/results/sst2_trials_mean_refine_centroid), sets copied to docs/results/sets/sst2/dilm and their
#    runs carried over (benchmarks/carry_runs.py --as: same files by content, same protocol and seeds).
# 2. Herding: its fp32 runs carried over from docs/results/sst2_fp32_herding (sst2_refine.sh scores them).
# 3. Random and K-centers (10 sets x 1 seed), the full training set (3 seeds), scored here.
# 4. Label agreement of every set with a reference classifier; the generators' own accuracy as classifiers is
#    the 4bec359 table's (the same generators: docs/results/sst2_table1_4bec359/generative_accuracy.json).
# 5. The report (p against K-centers, Random and Herding) and docs/results/sst2_table1.json.
#
# Every evaluation is fp32 (precision=fp32, whatever the machine), the precision DiLM's trial pick ran in.
# Resumable: finished sets and stored runs are skipped.
#
#   bash benchmarks/sst2_table1_pools.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
OUT=docs/results/sst2_table1
STORE=$OUT/results.sqlite
SETS=docs/results/sets/sst2
STUDY=docs/results/sst2_trials_mean_refine_centroid
OLD=docs/results/sst2_table1_4bec359
L=(env DILM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node 2 -m dilm)
E=(evaluate --preset cpu --store "$STORE" precision=fp32)
mkdir -p "$OUT"
source benchmarks/lib.sh  # put

# ---- 1.-2. DiLM's sets and runs, Herding's fp32 runs
bash benchmarks/sst2_refine.sh
for k in 5 10 20; do
  for g in 0 1; do
    put $STUDY/sets/sst2/dilm_trials_mean_refine_centroid/dpc_$k/set_$g.jsonl $SETS/dilm/dpc_$k/set_$g.jsonl
  done
done
.venv/bin/python benchmarks/carry_runs.py $STUDY/results.sqlite "$STORE" --method dilm_trials_mean_refine_centroid \
    --as dilm --sets $SETS/dilm
.venv/bin/python benchmarks/carry_runs.py docs/results/sst2_fp32_herding/results.sqlite "$STORE" --method herding

# ---- 3. the baselines (DPC 5 and 20 first)
for k in 5 20 10; do
  "${L[@]}" "${E[@]}" $SETS/random/dpc_$k $SETS/kcenters/dpc_$k --runs 1
  "${L[@]}" "${E[@]}" $SETS/herding/dpc_$k --runs 10  # carried, as DiLM's 2 sets x 5 seeds: nothing left to run
  "${L[@]}" "${E[@]}" $SETS/dilm/dpc_$k --runs 5
done
"${L[@]}" "${E[@]}" ../shared/data/sst2/train.jsonl --method full --dpc 0 --runs 3

# ---- 4. diagnostics
.venv/bin/python benchmarks/label_agreement.py $OUT/label_agreement.json $SETS/dilm $SETS/random $SETS/kcenters \
    $SETS/herding

# ---- 5. the report and docs/results/sst2_table1.json
.venv/bin/dilm report --preset cpu --store "$STORE" --out "$OUT" --reference kcenters
TABLE1_SCRIPT="bash benchmarks/sst2_table1_pools.sh" .venv/bin/python benchmarks/table1_json.py "$STORE" docs/results/sst2_table1.json $OLD/generative_accuracy.json \
    $OUT/label_agreement.json
