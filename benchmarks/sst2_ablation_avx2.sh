#!/usr/bin/env bash
# SST-2 ablation of the parts of the current `cpu` preset that come before sampling (the paper's Table 4
# rows "w/o representative teacher", "w/o diverse mini-batch sampling", "w/o gradient matching") at DPC
# $DPC (5, 10 or 20; default 5), fp32, on the generator benchmarks/cpu_preset_fp32.sh trained afresh ($RUN,
# default runs/cpu; its results: docs/results/cpu_preset_avx2). Learner minilm-l6, the paper's protocol,
# SST-2 validation. One generator: every row is 1 set x RUNS learner seeds (default 10).
#
#   dilm               the full preset: the run's own set; its runs are carried over from $SRC
#   dilm_no_teacher    distill.representative_teacher=false (random real batches), re-distilled from the
#                      run's pre-trained generator with the run's seed, then generated as the preset does
#   dilm_no_diverse    distill.diverse_sampling=false (plain top-p batches), likewise
#   vanilla_lm         no gradient matching: the run's vanilla LM set (cpu_preset_fp32.sh VANILLA=1), runs
#                      carried over from $SRC
#
# The generation of the re-distilled rows is the preset's at DPC $DPC and nothing else: generate.dpc=[$DPC]
# with generate.oversample=POOL/$DPC samples the same POOL texts a class (same seeds) that the run's
# generation sampled (POOL = its oversample x largest DPC: 100 x 20 = 2,000 for the cpu preset), and each
# of the 4 trial candidates picks from the same 500-row part of that pool (dilm/generate.py, part_size).
# VERIFY=1 checks that on the vanilla LM: regenerated this way, its set must be the run's byte for byte.
# Each arm's weight change (benchmarks/weight_change.py) goes to $OUT/run/, and the config of a DPC-10/20
# generation to $OUT/run/<row>/config_dpcK.yaml.
# DPC 5 and 20 have been run (docs/results/sst2_ablation_avx2); DPC=20 reuses the DPC-5 rows' distilled
# generators and generates into $WORK/<row>_dpc20.
# The steps after sampling (filter, herding, refinement, trial pick) are ablated on Table 1's pools by
# benchmarks/sst2_ablation_pools.sh; the 4bec359 preset's two-generator ablation is benchmarks/sst2_ablation.sh.
#
#   bash benchmarks/sst2_ablation_avx2.sh      (resumable; at DPC 5 about 45 min a re-distilled row on a
#                                              2-core AVX2 CPU)
#   DPC=20 bash benchmarks/sst2_ablation_avx2.sh   (after the DPC-5 run; about 25 min of generation and
#                                              20 min of learner runs a re-distilled row)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
RUN=${RUN:-runs/cpu}
SRC=${SRC:-docs/results/cpu_preset_avx2}
OUT=${OUT:-docs/results/sst2_ablation_avx2}
WORK=${WORK:-runs/ablation_avx2}
RUNS=${RUNS:-10}
DPC=${DPC:-5}
case $DPC in 5|10|20) ;; *) echo "DPC=$DPC: the preset's DPCs are 5, 10 and 20" >&2; exit 2;; esac
STORE=$OUT/results.sqlite
SETS=$OUT/sets
L=(env DILM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node 2 -m dilm)
for f in $RUN/config.yaml $RUN/generator_pretrained/model.safetensors $RUN/sets/dpc_$DPC/set_0.jsonl \
         ${RUN}_vanilla/sets/dpc_$DPC/set_0.jsonl; do
  [ -f "$f" ] || { echo "$f missing: run 'RUN=$RUN VANILLA=1 bash benchmarks/cpu_preset_fp32.sh' first" >&2; exit 2; }
done
SEED=$(sed -n 's/^seed: //p' $RUN/config.yaml)
grep -q "^precision: fp32" $RUN/config.yaml || { echo "$RUN/config.yaml: not an fp32 run" >&2; exit 2; }
POOL=$(.venv/bin/python -c 'import sys, yaml; g = yaml.safe_load(open(sys.argv[1]))["generate"]
print(g["oversample"] * max(g["dpc"]))' $RUN/config.yaml)  # samples a class the run drew
[ $((POOL % DPC)) = 0 ] || {
  echo "$RUN/config.yaml: its pool of $POOL samples a class is not a multiple of DPC $DPC" >&2; exit 2; }
ONE=(--preset cpu precision=fp32 "generate.dpc=[$DPC]" generate.oversample=$((POOL / DPC)))
mkdir -p "$OUT" "$WORK"
source benchmarks/lib.sh  # put
evaluate() {  # the set of one row
  "${L[@]}" evaluate "$SETS/$1/dpc_$DPC" --preset cpu --runs "$RUNS" --store "$STORE"
}

# ---- the full preset and its vanilla LM: the run's sets, their fp32 runs carried over
put $RUN/sets/dpc_$DPC/set_0.jsonl "$SETS/dilm/dpc_$DPC/set_0.jsonl"
put ${RUN}_vanilla/sets/dpc_$DPC/set_0.jsonl "$SETS/vanilla_lm/dpc_$DPC/set_0.jsonl"
.venv/bin/python benchmarks/carry_runs.py $SRC/results.sqlite "$STORE" --method dilm_fp32 --dpc $DPC \
    --as dilm --sets "$SETS/dilm"
.venv/bin/python benchmarks/carry_runs.py $SRC/results.sqlite "$STORE" --method vanilla_lm --dpc $DPC \
    --as vanilla_lm --sets "$SETS/vanilla_lm"
evaluate dilm        # nothing to do when every run was carried over
evaluate vanilla_lm
mkdir -p "$OUT/run/dilm"
[ -f "$OUT/run/dilm/weight_change.json" ] || .venv/bin/python benchmarks/weight_change.py $RUN/generator_pretrained \
    $RUN/generator_distilled "$OUT/run/dilm/weight_change.json" > /dev/null

# ---- re-distilled from the run's pre-trained generator, one part switched off
distilled() {  # row name, overrides...
  local name=$1; shift
  local out=$WORK/$name  # the distilled generator, and its DPC-5 generation
  local gen=$out         # where the sets of this DPC are generated
  [ "$DPC" = 5 ] || gen=$WORK/${name}_dpc$DPC
  mkdir -p "$out"  # the train embeddings and teacher sets are content-keyed caches: reuse the run's own
  for f in train_features_mean.pt teacher_sets.json; do [ -f "$out/$f" ] || cp "$RUN/$f" "$out/"; done
  [ -f "$out/generator_distilled/model.safetensors" ] || \
    .venv/bin/dilm distill "${ONE[@]}" seed=$SEED --generator $RUN/generator_pretrained out_dir="$out" "$@" \
        >> "$out.log" 2>&1 || { tail -20 "$out.log" >&2; exit 1; }
  [ -f "$gen/sets/dpc_$DPC/set_0.jsonl" ] || \
    .venv/bin/dilm generate "${ONE[@]}" seed=$SEED --generator "$out/generator_distilled" out_dir="$gen" "$@" \
        >> "$gen.log" 2>&1 || { tail -20 "$gen.log" >&2; exit 1; }
  put "$gen/sets/dpc_$DPC/set_0.jsonl" "$SETS/$name/dpc_$DPC/set_0.jsonl"
  mkdir -p "$OUT/run/$name"
  for f in config.yaml distill_metrics.jsonl; do cp "$out/$f" "$OUT/run/$name/"; done
  local own=""; [ "$gen" = "$out" ] || own=config.yaml  # a generation of its own records its config too
  for f in timings.json samples.md sets/trials.json $own; do  # the generation's, one a DPC
    local base=$(basename "$f" | sed "s/\\./_dpc$DPC./")
    cp "$gen/$f" "$OUT/run/$name/$base"
  done
  [ -f "$OUT/run/$name/weight_change.json" ] || .venv/bin/python benchmarks/weight_change.py \
      $RUN/generator_pretrained "$out/generator_distilled" "$OUT/run/$name/weight_change.json" > /dev/null
  evaluate "$name"
}
distilled dilm_no_teacher distill.representative_teacher=false
distilled dilm_no_diverse distill.diverse_sampling=false

.venv/bin/dilm report --preset cpu --store "$STORE" --out "$OUT" --reference dilm --no-memorisation

if [ "${VERIFY:-0}" = 1 ]; then  # the one-DPC generation is the preset's: the vanilla LM's set, regenerated
  v=$WORK/vanilla_check_dpc$DPC
  [ -f $v/sets/dpc_$DPC/set_0.jsonl ] || .venv/bin/dilm generate "${ONE[@]}" seed=$SEED \
      --generator $RUN/generator_pretrained out_dir=$v >> $v.log 2>&1
  cmp $v/sets/dpc_$DPC/set_0.jsonl ${RUN}_vanilla/sets/dpc_$DPC/set_0.jsonl
  echo "vanilla LM regenerated with ${ONE[*]}: the same DPC-$DPC set as ${RUN}_vanilla"
fi
