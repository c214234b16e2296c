#!/usr/bin/env bash
# Does the class token steer the generator, and does starting it from the class name help?
# (the follow-up to the Table-1 analysis: DiLM's and the vanilla LM's texts barely fit their class)
#
#   1. step 1 from SmolLM2 with model.class_token_init=label_names (<bos_0> starts as the mean
#      embedding of " negative", <bos_1> of " positive"), 150 steps (the `cpu` preset runs 600);
#   2. (run last) each generator as a generative classifier on 300 SST-2 validation rows, and
#      the cosine of its class tokens: docs/results/conditioning/sst2.json;
#   3. the vanilla-LM pipeline (step 1 + 3, no gradient matching) from that generator, one set
#      at DPC 5 and 20 (the `cpu` preset's generate: 100 x DPC pool, K-centers), evaluated
#      with the paper's protocol (DPC 5: 4 seeds, DPC 20: 2 seeds), beside the Table-1
#      vanilla-LM set 0 (class tokens from EOS, 600 steps), whose stored runs are copied
#      from the Table-1 store (same set, learner, protocol and seeds);
#   4. DiLM from that generator (the `cpu` preset's step 2, then one set at DPC 5, 4 seeds),
#      beside the Table-1 DiLM set 0 (the `cpu` run, class tokens from EOS), copied likewise.
# Resumable; about 1 h on one core.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
D=.venv/bin/dilm
RUN=runs/cond/label_names
OUT=docs/results/sst2_class_init
STORE=$OUT/results.sqlite
SETS=docs/results/sets/sst2
mkdir -p "$OUT" docs/results/conditioning
$D pretrain --preset cpu --out $RUN pretrain.steps=150 pretrain.checkpoint_every=50 \
    model.class_token_init=label_names
$D generate --preset cpu --out $RUN --generator $RUN/generator_pretrained model.class_token_init=label_names \
    "generate.dpc=[5,20]"
for k in 5 20; do
  mkdir -p $SETS/vanilla_lm_names/dpc_$k
  cp -n $RUN/sets/dpc_$k/set_0.jsonl $SETS/vanilla_lm_names/dpc_$k/set_0.jsonl
done
$D evaluate --preset cpu --store "$STORE" $SETS/vanilla_lm_names/dpc_5/set_0.jsonl --runs 4
$D evaluate --preset cpu --store "$STORE" $SETS/vanilla_lm_names/dpc_20/set_0.jsonl --runs 2
# step 2 + 3 from the same generator; the train features and teacher sets are those of the `cpu`
# run (same data, learner and seed), copied to save their ~5 min
DRUN=runs/cond/label_names_dilm
mkdir -p $DRUN
for f in train_features_mean.pt teacher_sets.json; do [ ! -f runs/cpu/$f ] || cp -n runs/cpu/$f $DRUN/; done
$D distill --preset cpu --out $DRUN --generator $RUN/generator_pretrained model.class_token_init=label_names
$D generate --preset cpu --out $DRUN model.class_token_init=label_names "generate.dpc=[5]"
mkdir -p $SETS/dilm_names/dpc_5
cp -n $DRUN/sets/dpc_5/set_0.jsonl $SETS/dilm_names/dpc_5/set_0.jsonl
$D evaluate --preset cpu --store "$STORE" $SETS/dilm_names/dpc_5/set_0.jsonl --runs 4
[ -f docs/results/conditioning/sst2.json ] || .venv/bin/python benchmarks/class_conditioning.py \
    docs/results/conditioning/sst2.json sst2 smollm2-135m smollm2-135m@label_names \
    runs/cpu/generator_pretrained runs/cpu/generator_distilled runs/cpu_seed1/generator_pretrained \
    $RUN/generator_pretrained $DRUN/generator_distilled --limit 300
.venv/bin/python - "$STORE" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("ATTACH 'docs/results/sst2_table1_b58ec5f/results.sqlite' AS t1")
n = db.execute("INSERT OR IGNORE INTO runs SELECT * FROM t1.runs WHERE set_path LIKE '%/set_0.jsonl' AND ("
               "(method = 'vanilla_lm' AND ((dpc = 5 AND seed < 4) OR (dpc = 20 AND seed < 2))) OR "
               "(method = 'dilm' AND dpc = 5 AND seed < 4)) AND protocol IN (SELECT protocol FROM runs)").rowcount
db.commit()
print(f"copied {n} Table-1 runs (vanilla LM and DiLM, set 0)")
PY
$D report --preset cpu --store "$STORE" --out "$OUT" --reference vanilla_lm --no-memorisation
$D report --preset cpu --store "$STORE" --out "$OUT/vs_dilm" --reference dilm --no-memorisation
