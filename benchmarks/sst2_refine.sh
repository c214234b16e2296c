#!/usr/bin/env bash
# generate.refine=centroid on Table 1's two generators' pools, scored on SST-2 validation in fp32
# against Herding in fp32 (the protocol a CPU without fast bf16 runs; Table 1's own cells are bf16).
#
# 1. Herding's fp32 runs: DPC 5 from docs/results/cpu_preset_fp32 (the same set file and protocol, copied
#    into the reference store, not rerun), DPC 10 and 20 scored here (1 set x 10 seeds, as Table 1).
# 2. benchmarks/sst2_trials.sh with REFINE=centroid FEATURES=mean PRECISION=fp32: each of the 4 candidates
#    refined (dilm/refine.py), then the trial pick, 2 generators x 5 seeds a DPC, compared with (1).
#
#   bash benchmarks/sst2_refine.sh             # DPC 5, then 20, then 10 (resumable)
#   DPCS="5" bash benchmarks/sst2_refine.sh    # one DPC only
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
REF=docs/results/sst2_fp32_herding/results.sqlite
DPCS=${DPCS:-5 20 10}
L=(env DILM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node 2 -m dilm)
mkdir -p "$(dirname $REF)"
.venv/bin/python benchmarks/carry_runs.py docs/results/cpu_preset_fp32/results.sqlite $REF --method herding --dpc 5
for k in $DPCS; do
  if [ "$k" != 5 ]; then
    "${L[@]}" evaluate docs/results/sets/sst2/herding/dpc_$k --preset cpu --runs 10 --store $REF precision=fp32
  fi
  DPCS=$k REFINE=centroid FEATURES=mean PRECISION=fp32 COMPARE_WITH=$REF bash benchmarks/sst2_trials.sh
done
