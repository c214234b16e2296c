#!/usr/bin/env bash
# The `cpu` preset end to end on a CPU without fast bf16, where `precision: auto` picks fp32, and its
# sets against Herding under the same fp32 protocol.
#
# 1. `dilm run --preset cpu` as one command under /usr/bin/time -v ($RUN; skipped when its DPC-20 set
#    exists). Its config, timings, log, sets, samples and time/RSS/steal figures go to $OUT.
# 2. The run's own DiLM set and Table 1's Herding set (docs/results/sets/sst2/herding) at each DPC of
#    $DPCS (default 5; DPCS="5 20" adds DPC 20), 10 learner seeds each, on SST-2 validation, into
#    $OUT/results.sqlite. The store keys the resolved precision, so these fp32 runs never pool with
#    bf16 ones; compare_stores.py compares them with each other only. Herding's fp32 runs already made
#    (docs/results/sst2_fp32_herding) are carried over, not rerun. One generator here. The sets are also
#    compared with every fp32 cell of Table 1's store (vs_table1_dpcK.json), and the share of their labels a
#    reference classifier agrees with (label_agreement.json).
# 3. VANILLA=1: the vanilla LM of the same run (its pre-trained generator, the same generation: steps 1 + 3)
#    into ${RUN}_vanilla, scored the same way, and compared with the run's DiLM set.
# 4. `dilm report` of the store into $OUT/report: tables, plot, examples and the memorisation check.
#
#   bash benchmarks/cpu_preset_fp32.sh          (resumable; the preset of commit 4bec359 on an Intel Xeon:
#                                               docs/results/cpu_preset_fp32, runs/cpu_fp32)
#   RUN=runs/cpu OUT=docs/results/cpu_preset_avx2 DPCS="5 20" VANILLA=1 bash benchmarks/cpu_preset_fp32.sh
#                                               (the current preset on an AMD EPYC, AVX2; then the same
#                                               with DPCS="10" scored its DPC-10 sets)
#   SEED=1 RUN=runs/cpu_seed1 OUT=docs/results/cpu_preset_avx2_seed1 DPCS="5 20 10" VANILLA=1 bash ...
#                                               (a second generator: seed=1 for the run and its vanilla LM)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
OUT=${OUT:-docs/results/cpu_preset_fp32}
RUN=${RUN:-runs/cpu_fp32}
SEED=${SEED:-0}
DPCS=${DPCS:-5}
L=(env DILM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/torchrun --standalone --nproc_per_node 2 -m dilm)
mkdir -p $OUT
if [ ! -f $RUN/sets/dpc_20/set_0.jsonl ]; then
  # An interrupted attempt resumes from its last checkpoint; its log and /proc/stat samples are kept as
  # $RUN.attempt<N>.* and time.json lists them, since /usr/bin/time then times only the last attempt.
  if [ -f $RUN.log ]; then
    n=1; while [ -f $RUN.attempt$n.log ]; do n=$((n + 1)); done
    mv $RUN.log $RUN.attempt$n.log
    [ ! -f $RUN.procstat ] || mv $RUN.procstat $RUN.attempt$n.procstat
  fi
  # /proc/stat's cpu line every 30 s: steal (time the host gave the vCPUs to others) inflates the wall clock
  (while true; do echo "$(date +%s) $(head -1 /proc/stat)"; sleep 30; done) > $RUN.procstat &
  SAMPLER=$!
  trap "kill $SAMPLER" EXIT  # the sampler stops with the script when the run fails
  /usr/bin/time -v .venv/bin/dilm run --preset cpu --out $RUN seed=$SEED > $RUN.log 2>&1
  kill $SAMPLER; trap - EXIT  # and with the run, so that the steal window is the run's, not the evaluations'
fi
.venv/bin/python - "$RUN" "$OUT" "$SEED" <<'EOF'
import json, shutil, sys
from pathlib import Path
run, out, seed = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
config = (run / "config.yaml").read_text()
if "precision: fp32" not in config:
    sys.exit(f"{run}/config.yaml: this study is for a run that resolved to fp32, found no 'precision: fp32'")
for name in ("config.yaml", "timings.json", "distill_metrics.jsonl", "samples.md"):
    shutil.copyfile(run / name, out / name)
for name in ("trials.json", "manifest.json", "dpc_5/set_0.jsonl", "dpc_10/set_0.jsonl", "dpc_20/set_0.jsonl"):
    (out / "sets" / name).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run / "sets" / name, out / "sets" / name)
log = Path(f"{run}.log").read_text().splitlines()
cut = next(i for i, line in enumerate(log) if "Command being timed" in line)
(out / "run.log").write_text("\n".join(line for line in log[:cut] if "it/s]" not in line) + "\n")
time_v = dict(line.strip().split(": ", 1) for line in log[cut:] if ": " in line)
timings = json.loads((run / "timings.json").read_text())
ticks = [[int(v) for v in line.split()[2:10]] for line in Path(f"{run}.procstat").read_text().splitlines()]
total = sum(ticks[-1]) - sum(ticks[0])  # user nice system idle iowait irq softirq steal, all CPUs
cpu_seconds = float(time_v["User time (seconds)"]) + float(time_v["System time (seconds)"])
attempts = []  # interrupted attempts before this one, oldest first
for n in range(1, 100):
    earlier = Path(f"{run}.attempt{n}.log")
    if not earlier.exists():
        break
    lines = [line for line in earlier.read_text().splitlines() if "it/s]" not in line]
    (out / f"run.attempt{n}.log").write_text("\n".join(lines) + "\n")
    stamped = [line for line in lines if line[:2].isdigit() and line[2:3] == ":"]
    attempts.append({"log": f"run.attempt{n}.log", "first_line": stamped[0], "last_line": stamped[-1]})
record = {
    "command": f"/usr/bin/time -v .venv/bin/dilm run --preset cpu --out {run} seed={seed}",
    "wall_clock": time_v["Elapsed (wall clock) time (h:mm:ss or m:ss)"],
    "cpu_seconds": cpu_seconds, "percent_of_cpu": time_v["Percent of CPU this job got"],
    "peak_rss_kib": int(time_v["Maximum resident set size (kbytes)"]),
    "steal_fraction": (ticks[-1][7] - ticks[0][7]) / total if total else None,
    "steal_window": f"first to last /proc/stat sample (every 30 s) in {run}.procstat",
    "timings": timings}
if attempts:
    record["earlier_attempts"] = attempts
    record["note"] = ("wall_clock, cpu_seconds and peak_rss_kib time the last attempt only; it resumed "
                      "from the checkpoints the earlier attempts left (their logs: earlier_attempts)")
(out / "time.json").write_text(json.dumps(record, indent=2) + "\n")
shutil.copyfile(f"{run}.procstat", out / "procstat.log")
EOF
.venv/bin/python benchmarks/carry_runs.py docs/results/sst2_fp32_herding/results.sqlite $OUT/results.sqlite \
    --method herding
for k in $DPCS; do
  "${L[@]}" evaluate $RUN/sets/dpc_$k/set_0.jsonl --method dilm_fp32 --dpc $k --preset cpu --runs 10 \
      --store $OUT/results.sqlite
  "${L[@]}" evaluate docs/results/sets/sst2/herding/dpc_$k/set_0.jsonl --method herding --dpc $k --preset cpu \
      --runs 10 --store $OUT/results.sqlite
  # against every cell of Table 1's store under the same (fp32) protocol: Random, K-centers, Herding, the full
  # data and Table 1's own DiLM sets (no runs added to either store)
  .venv/bin/python benchmarks/compare_stores.py $OUT/results.sqlite docs/results/sst2_table1/results.sqlite \
      $OUT/vs_table1_dpc$k.json --method dilm_fp32 --dpc $k
done
# the share of each set's texts a reference classifier (trained on SST-2's training split) gives their label
.venv/bin/python benchmarks/label_agreement.py $OUT/label_agreement.json $OUT/sets > /dev/null
if [ "${VANILLA:-0}" = 1 ]; then
  V=${RUN}_vanilla
  /usr/bin/time -v .venv/bin/dilm generate --preset cpu --generator $RUN/generator_pretrained --out $V seed=$SEED \
      > $V.log 2>&1 || { tail -20 $V.log >&2; exit 1; }
  mkdir -p $OUT/vanilla/sets
  cp $V/config.yaml $V/timings.json $V/samples.md $OUT/vanilla/
  cp $V/sets/trials.json $OUT/vanilla/sets/
  for k in $DPCS; do
    mkdir -p $OUT/vanilla/sets/dpc_$k
    cp $V/sets/dpc_$k/set_0.jsonl $OUT/vanilla/sets/dpc_$k/
    "${L[@]}" evaluate $V/sets/dpc_$k/set_0.jsonl --method vanilla_lm --dpc $k --preset cpu --runs 10 \
        --store $OUT/results.sqlite
  done
  .venv/bin/python benchmarks/label_agreement.py $OUT/vanilla/label_agreement.json $OUT/vanilla/sets > /dev/null
fi
for k in $DPCS; do  # the run's DiLM set against every set of the store at this DPC (Herding, the vanilla LM)
  .venv/bin/python benchmarks/compare_stores.py $OUT/results.sqlite $OUT/results.sqlite $OUT/summary_dpc$k.json \
      --method dilm_fp32 --dpc $k
done
# tables, scaling plot, examples and the memorisation check (nearest training text of every generated text)
.venv/bin/dilm report --preset cpu --store $OUT/results.sqlite --out $OUT/report --reference dilm_fp32
