#!/usr/bin/env bash
# SST-2 cross-model (issue 3, the paper's Table 2 shape): the DPC-20 sets of the Table-1
# benchmark (benchmarks/sst2_table1.sh, run it first) trained with a second learner of another
# architecture: SmolLM2-135M as a decoder-only classifier (LlamaForSequenceClassification: the
# last real token's hidden state into a fresh linear head, like the paper's XLNet/GPT-2 rows).
# It is the one other architecture that loads offline here (docs/results/README.md says why
# bge-small and MPNet were not used). The protocol is the paper's, unchanged (200 steps, ...).
#
# One run costs 12-27 min on one core here (the store's `seconds` column), so the cells are
# filled in rounds: round r evaluates set r of random / K-centers / DiLM (seed 0) and learner
# seed r of herding / vanilla LM (their one set). SET_ROUNDS=n (default 4: all four DiLM sets)
# and SEED_ROUNDS=m (default 3) say how many rounds of each. Resumable: runs are stored in
# docs/results/sst2_cross_model/results.sqlite, and stored runs are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
PROCS=${PROCS:-2}
SET_ROUNDS=${SET_ROUNDS:-4}
SEED_ROUNDS=${SEED_ROUNDS:-3}
if [ "$PROCS" -gt 1 ]; then
  L=(env DILM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node "$PROCS" -m dilm)
else
  L=(.venv/bin/dilm)
fi
OUT=docs/results/sst2_cross_model
STORE=$OUT/results.sqlite
SETS=docs/results/sets/sst2
mkdir -p "$OUT"
[ -f $SETS/dilm/dpc_20/set_0.jsonl ] || { echo "run benchmarks/sst2_table1.sh first" >&2; exit 2; }
E=(evaluate --preset cpu --learner smollm2-135m --store "$STORE")
for ((r = 0; r < SET_ROUNDS || r < SEED_ROUNDS; r++)); do
  if ((r < SET_ROUNDS)); then  # set r, learner seed 0
    "${L[@]}" "${E[@]}" $SETS/dilm/dpc_20/set_$r.jsonl $SETS/random/dpc_20/set_$r.jsonl \
        $SETS/kcenters/dpc_20/set_$r.jsonl --runs 1
  fi
  if ((r < SEED_ROUNDS)); then  # the one set, learner seed r
    "${L[@]}" "${E[@]}" $SETS/herding/dpc_20 $SETS/vanilla_lm/dpc_20 --runs 1 seed=$r
  fi
done
.venv/bin/dilm report --preset cpu --store "$STORE" --out "$OUT" --reference kcenters --no-memorisation
# the same table with p-values against Random
.venv/bin/dilm report --preset cpu --store "$STORE" --out "$OUT/vs_random" --reference random --no-memorisation
