#!/usr/bin/env bash
# DPC 5: does a narrower nucleus (generate.top_p 0.7, 0.85) give better candidate sets than the paper's 0.95?
#
# Every other study of the DPC-5 cell changed the matching, the pick or the filter; this one changes the
# sampling, which no study had. One distilled generator (the `cpu` preset's own, run end to end in fp32 by
# benchmarks/cpu_preset_fp32.sh into runs/cpu_fp32; Table 1's two generators are not on this machine)
# samples one 2,000-a-class pool per top-p and seed (benchmarks/posterior_filter.py, which also gives the
# pool's agreement with the reference classifier and its share of verbatim training copies). Every top-p
# uses the same seeds. Each pool is cut as the preset cuts it: 4 parts of 500, posterior filter q = 0.6,
# herding of mean-pooled embeddings, so 4 candidates per pool. Each candidate is scored on a carve-out of
# train, never on validation: A on the whole-sentence carve-out (data.holdout=1000 data.holdout_min_words=12,
# seed 0), B on the one of seed=1. benchmarks/filter_strength.py (its variants here are the top-p arms)
# gives the A and B scores, the paired difference from top-p 0.95 over the same pool parts and seeds,
# r(A, B), and the B score of each pool's best-A candidate (the trial pick's set), and copies those kept
# sets to $OUT/kept. VALIDATE="0.7" then scores the kept sets of those arms on SST-2 validation (5 learner
# seeds each) against the same generator's preset set and Herding, both fp32
# (docs/results/cpu_preset_fp32/results.sqlite).
#
#   bash benchmarks/top_p.sh        (resumable; TOPS="0.95 0.7" SEEDS="20" for fewer arms and pools)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
OUT=docs/results/tuning/top_p
G=${GENERATOR:-runs/cpu_fp32/generator_distilled}
TOPS=${TOPS:-"0.95 0.7 0.85"}
SEEDS=${SEEDS:-"20 21"}
VALIDATE=${VALIDATE:-""}
L=(env DILM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node 2 -m dilm)
HOLD=(--preset cpu data.holdout=1000 data.holdout_min_words=12 --runs 1)
name() { if [ "$2" = 20 ]; then echo "top_p$1"; else echo "top_p$1_seed$2"; fi; }  # seed 20 was the first
mkdir -p $OUT/pools $OUT/arms/sst2
for t in $TOPS; do
  pools=(); seeds=()
  for s in $SEEDS; do
    n=$(name $t $s)
    [ -f $OUT/pools/$n.jsonl ] || .venv/bin/python benchmarks/posterior_filter.py $OUT/posterior_filter_$n.json \
        $G --pool $OUT/pools/$n.jsonl --seed $s --top-p $t --selection herding --features mean --keep 1 0.6
    pools+=($OUT/pools/$n.jsonl); seeds+=($s)
  done
  ARM=$OUT/arms/sst2/top_p$t/dpc_5
  if [ ! -f $ARM/set_$(( 4 * ${#pools[@]} - 1 )).jsonl ]; then
    CUT=$OUT/cut_top_p$t
    rm -rf $CUT
    .venv/bin/python benchmarks/pool_selection.py $CUT --pool "${pools[@]}" --seed "${seeds[@]}" \
        --variant herding:mean:0.6 --dpc 5 --chunks 4
    mkdir -p $ARM
    for f in $CUT/sets/sst2/herding_mean_q0.6/dpc_5/set_*.jsonl; do
      if [ -f $ARM/$(basename $f) ]; then  # cut before from the same pool and seed: must be the same set
        cmp -s $f $ARM/$(basename $f) || { echo "$ARM/$(basename $f): the new cut differs" >&2; exit 1; }
      else
        mv $f $ARM/
      fi
    done
    mv $CUT/pool_selection.json $OUT/pool_selection_top_p$t.json
    rm -r $CUT
  fi
  "${L[@]}" evaluate $ARM "${HOLD[@]}" --store $OUT/a.sqlite
  "${L[@]}" evaluate $ARM "${HOLD[@]}" seed=1 --store $OUT/b.sqlite
done
ARMS=(); for t in $TOPS; do ARMS+=(top_p$t); done
.venv/bin/python benchmarks/filter_strength.py $OUT/summary.json --sets $OUT/arms/sst2 --a $OUT/a.sqlite \
    --b $OUT/b.sqlite --variant "${ARMS[@]}" --reference top_p0.95 --kept $OUT/kept
for t in $VALIDATE; do
  "${L[@]}" evaluate $OUT/kept/top_p$t/dpc_5 --method dilm_fp32_top_p$t --dpc 5 --preset cpu --runs 5 \
      --store $OUT/validation.sqlite
  .venv/bin/python benchmarks/compare_stores.py $OUT/validation.sqlite docs/results/cpu_preset_fp32/results.sqlite \
      $OUT/validation_top_p$t.json --method dilm_fp32_top_p$t --dpc 5
done
