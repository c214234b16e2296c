#!/usr/bin/env bash
# More gradient matching at the same cost: does a larger step (or sharper sample weights) lift the
# `cpu` preset's DPC-5 set? One generator, every arm (docs/method.md, "Matching strength at DPC 5").
#
# Every arm re-distils the fp32 `cpu` preset run's pre-trained generator (runs/cpu_fp32, made by
# benchmarks/cpu_preset_fp32.sh) with the preset's 40 matching steps and seed 0, changing only
# the overrides below, then generates DPC 5 exactly as the preset does: a 2,000-sample pool a class
# (generate.oversample=400 at DPC 5 = the preset's 100 x max DPC 20), the same sampling seeds, 4
# disjoint candidates of 500, and the trial pick. The base arm is runs/cpu_fp32 itself (lr 1e-5).
# 1. Carve-out, never validation: every candidate's probe score (the learner trained on it, scored
#    on 500 seeded training rows of >= 12 words; <run>/sets/trials.json), compared per arm by
#    benchmarks/trial_candidates.py. The probe is the same rows in every arm.
# 2. Validation: each arm's kept set, 10 learner seeds, fp32 protocol, into $OUT/results.sqlite,
#    against the base arm's and Herding's runs in docs/results/cpu_preset_fp32/results.sqlite
#    ($OUT/summary_<arm>.json, Welch's p); how far the matching moved the weights
#    ($OUT/weight_change_<arm>.json) and, for the base and any failed arm, unfinished samples.
# 3. The LM term's gradient norm on the base generator against the matching's ($OUT/grad_norms.json).
#
#   bash benchmarks/matching_strength.sh                   (resumable; ARMS="lr1e-4" for a subset)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
OUT=docs/results/tuning/matching_strength
BASE=runs/cpu_fp32
ARMS=${ARMS:-"lr3e-5 tau0.25 tau0.1 lr1e-4_lm0.1 lr3e-5_lm0.1 lr3e-5_lm0.1_s120"}
L=(env DILM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node 2 -m dilm)
ONE=(--preset cpu precision=fp32 seed=0 generate.dpc=[5] generate.oversample=400 generate.refine=off)  # the preset then
# lr1e-4 was tried first and stopped at step 30: its generator had stopped ending texts
# (benchmarks/unfinished_samples.py on its checkpoint; docs/method.md).
# The *_lm0.1 arms add an LM term on 16 random training rows a step (distill.lm_weight; its gradient
# norm is about 5 on this generator, the matching's 0.03-11): can a larger step then match harder?
# *_s120 runs 3x the preset's matching steps (12 outer loops x 10).
declare -A SET=([lr1e-4]="distill.lr=1e-4" [lr3e-5]="distill.lr=3e-5" [tau0.25]="distill.tau=0.25"
                [tau0.1]="distill.tau=0.1" [lr1e-4_lm0.1]="distill.lr=1e-4 distill.lm_weight=0.1"
                [lr3e-5_lm0.1]="distill.lr=3e-5 distill.lm_weight=0.1"
                [lr3e-5_lm0.1_s120]="distill.lr=3e-5 distill.lm_weight=0.1 distill.outer_loops=12")
[ -f $BASE/sets/trials.json ] || { echo "$BASE: no fp32 preset run; run benchmarks/cpu_preset_fp32.sh" >&2; exit 1; }
for arm in $ARMS; do  # every arm is known before any runs
  [ -n "${SET[$arm]:-}" ] || { echo "unknown arm $arm (known: ${!SET[*]})" >&2; exit 1; }
done
mkdir -p $OUT/run
for arm in $ARMS; do
  run=runs/gm_$arm
  if [ ! -f $run/sets/dpc_5/set_0.jsonl ]; then
    mkdir -p $run
    [ -f $run/train_features_mean.pt ] || cp $BASE/train_features_mean.pt $run/  # content-keyed cache
    # shellcheck disable=SC2086
    if ! { .venv/bin/dilm distill "${ONE[@]}" --generator $BASE/generator_pretrained out_dir=$run ${SET[$arm]} &&
           .venv/bin/dilm generate "${ONE[@]}" out_dir=$run ${SET[$arm]}; }; then
      echo "arm $arm failed; the next arm runs" >&2
      ckpt=$run/checkpoints/distill/generator.safetensors  # what its generator wrote when it stopped
      if [ -f $ckpt ]; then
        .venv/bin/python benchmarks/unfinished_samples.py $OUT/unfinished_$arm.json $BASE/generator_pretrained \
            --checkpoint $ckpt
      fi
      continue
    fi
  fi
  mkdir -p $OUT/run/$arm
  for f in config.yaml timings.json samples.md distill_metrics.jsonl sets/trials.json sets/dpc_5/set_0.jsonl; do
    cp $run/$f $OUT/run/$arm/$(basename $f)
  done
  "${L[@]}" evaluate $run/sets/dpc_5/set_0.jsonl --method dilm_gm_$arm --dpc 5 --preset cpu precision=fp32 \
      --runs 10 --store $OUT/results.sqlite
  .venv/bin/python benchmarks/compare_stores.py $OUT/results.sqlite docs/results/cpu_preset_fp32/results.sqlite \
      $OUT/summary_$arm.json --method dilm_gm_$arm --dpc 5
  if [ ! -f $OUT/weight_change_$arm.json ]; then  # how far the matching moved the weights
    .venv/bin/python benchmarks/weight_change.py $BASE/generator_pretrained $run/generator_distilled \
        $OUT/weight_change_$arm.json
  fi
done
if [ ! -f $OUT/unfinished_lr1e-5.json ]; then  # the base arm, for comparison
  .venv/bin/python benchmarks/unfinished_samples.py $OUT/unfinished_lr1e-5.json $BASE/generator_distilled
fi
if [ ! -f $OUT/grad_norms.json ]; then  # the LM term's gradient against the matching's (sizes lm_weight)
  .venv/bin/python benchmarks/grad_norms.py $OUT/grad_norms.json $BASE/generator_pretrained \
      --metrics lr1e-5=docs/results/cpu_preset_fp32/distill_metrics.jsonl \
      --metrics lr3e-5=$OUT/run/lr3e-5/distill_metrics.jsonl
fi
if [ ! -f $OUT/weight_change_lr1e-5.json ]; then
  .venv/bin/python benchmarks/weight_change.py $BASE/generator_pretrained $BASE/generator_distilled \
      $OUT/weight_change_lr1e-5.json
fi
args=(--method lr1e-5 $BASE/sets/trials.json)
for arm in $ARMS; do
  if [ -f runs/gm_$arm/sets/trials.json ]; then args+=(--method "$arm" runs/gm_$arm/sets/trials.json); fi
done
.venv/bin/python benchmarks/trial_candidates.py $OUT/trial_candidates.json "${args[@]}"
