#!/usr/bin/env bash
# 1 process vs 2 processes (torchrun, gloo, 1 thread each) on this machine, same config:
# wall time of `dilm run` and how far the results differ. Two sizes:
#   small  the demo preset cut down (2,000 rows, 30 pretraining steps, 4 generator steps, DPC 5 x 20)
#   demo   the demo preset as it is
# Writes docs/results/scaling.json (read by docs/scaling.md). About 20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
SMALL=(data.max_train_examples=2000 pretrain.steps=30 distill.outer_loops=2 distill.inner_steps=2
       generate.oversample=20)
SIZES=${SIZES:-"small demo"}
for size in $SIZES; do
  extra=()
  [ "$size" = small ] && extra=("${SMALL[@]}")
  for p in 1 2; do
    out=runs/scaling/${size}_p$p
    rm -rf "$out"
    start=$(date +%s.%N)
    if [ "$p" = 1 ]; then
      DILM_THREADS=2 .venv/bin/dilm run --preset demo "${extra[@]}" out_dir="$out"
    else
      DILM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node 2 -m dilm run \
          --preset demo "${extra[@]}" out_dir="$out"
    fi
    python3 -c "import sys; print(round(float(sys.argv[1]) - float(sys.argv[2]), 1))" "$(date +%s.%N)" "$start" > "$out/wall_seconds.txt"
  done
done
.venv/bin/python benchmarks/scaling_compare.py runs/scaling docs/results/scaling.json $SIZES
