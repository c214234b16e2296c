#!/usr/bin/env bash
# How should the class reach the generator? (issue 15, item 1) Each conditioning layout
# (model.conditioning, dilm/layout.py) is measured on a carve-out of SST-2's *train* split,
# never on validation: 2,000 training rows are held out (data.holdout=2000); the generator is
# pre-trained on the rest and then used as a classifier, argmax_c log p(x | prefix_c), on 400
# of the held-out rows (benchmarks/class_conditioning.py --holdout 2000).
#
#   zero-shot: the packaged SmolLM2-135M-Instruct, no training
#   short:     STEPS pre-training steps x BATCH rows (the `cpu` preset's lr 1e-4, bf16 where fast)
#
# Writes docs/results/conditioning/sst2_layouts_zero_shot.json and sst2_layouts_<STEPS>steps.json.
# Resumable: a finished pre-training (runs/conditioning/<name>/generator_pretrained) is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
STEPS=${STEPS:-100}
BATCH=${BATCH:-16}
OUT=docs/results/conditioning
HOLD=(data.holdout=2000)
CANDIDATES=(instruction plain_instruction class_token@label_names label_words class_token@eos)
mkdir -p "$OUT" runs/conditioning

if [ ! -f "$OUT/sst2_layouts_zero_shot.json" ]; then
  .venv/bin/python benchmarks/class_conditioning.py "$OUT/sst2_layouts_zero_shot.json" sst2 \
      smollm2-135m smollm2-135m@label_names smollm2-135m@label_words smollm2-135m@plain_instruction \
      smollm2-135m@instruction --holdout 2000 --limit 400
fi

GENS=()
for cand in "${CANDIDATES[@]}"; do
  layout=${cand%@*}
  init=$([ "$cand" = class_token@label_names ] && echo label_names || echo eos)
  name=${cand//@/_}_${STEPS}x${BATCH}
  dir=runs/conditioning/$name
  if [ ! -f "$dir/generator_pretrained/dilm_generator.json" ]; then
    .venv/bin/dilm pretrain --preset cpu "${HOLD[@]}" model.conditioning="$layout" \
        model.class_token_init="$init" pretrain.steps="$STEPS" pretrain.batch_size="$BATCH" \
        pretrain.checkpoint_every=0 pretrain.log_every=25 out_dir="$dir" 2>&1 | tee "$dir.log"
  fi
  GENS+=("$dir/generator_pretrained")
done
.venv/bin/python benchmarks/class_conditioning.py "$OUT/sst2_layouts_${STEPS}steps.json" sst2 "${GENS[@]}" \
    --holdout 2000 --limit 400
