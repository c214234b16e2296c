#!/usr/bin/env bash
# LoRA during gradient matching (issue 4): does training the generator's LoRA adapters instead of
# all its weights change the distilled set's quality? Same pre-trained generator as the `cpu`
# preset's seed-1 run (runs/cpu_seed1, DiLM set 3 of Table 1), same distillation sizes, with
# distill.lora_rank=16 and distill.lr=1e-4 (LoRA adapters start at zero and are usually trained
# with ~10x the full fine-tuning rate; 1e-4 is that convention, not a tuned value). Two sets
# (independent pools) at DPC 5 and 20, 3 learner seeds each, learner minilm-l6, the paper's
# protocol, in docs/results/sst2_lora/results.sqlite (resumable). The full fine-tuning side is
# Table 1's DiLM (docs/results/sst2_table1_b58ec5f/results.sqlite): its set 3 comes from the same
# pre-trained generator; all 4 sets are pooled too.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
D=.venv/bin/dilm
[ -d runs/cpu_seed1/generator_pretrained ] || { echo "run 'dilm run --preset cpu --out runs/cpu_seed1 seed=1' first" >&2; exit 2; }
OVR=(seed=1 distill.lora_rank=16 distill.lr=1e-4 "generate.dpc=[5,20]" generate.num_sets=2)
OUT=docs/results/sst2_lora
SETS=docs/results/sets/sst2/dilm_lora
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1  # stage times and peak RSS are in the log ("... done in")
$D distill --preset cpu --out runs/cpu_lora --generator runs/cpu_seed1/generator_pretrained "${OVR[@]}"
$D generate --preset cpu --out runs/cpu_lora "${OVR[@]}"
for k in 5 20; do
  mkdir -p $SETS/dpc_$k
  cp -n runs/cpu_lora/sets/dpc_$k/set_[01].jsonl $SETS/dpc_$k/
done
cp runs/cpu_lora/distill_metrics.jsonl runs/cpu_lora/samples.md "$OUT/"
cp runs/cpu_lora/generator_distilled/config.yaml "$OUT/config.yaml"
$D evaluate --preset cpu --store "$OUT/results.sqlite" $SETS/dpc_5 $SETS/dpc_20 --runs 3
.venv/bin/python benchmarks/lora_compare.py "$OUT/results.sqlite" docs/results/sst2_table1_b58ec5f/results.sqlite \
    "$OUT/compare.json"
