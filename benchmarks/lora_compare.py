"""LoRA vs full fine-tuning during gradient matching: the distilled sets' scores side by side.

`python benchmarks/lora_compare.py LORA_STORE TABLE1_STORE OUT.json` (benchmarks/sst2_lora.sh):
per DPC, mean ± std and n of the `dilm_lora` runs, of Table 1's `dilm` runs (all sets) and of its
set 3 alone (the one distilled from the same pre-trained generator), with Welch's p of LoRA against
each. Runs are only compared under the same learner and evaluation protocol.
"""

import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dilm.io import write_json  # noqa: E402
from dilm.metrics import summary, welch  # noqa: E402
from dilm.store import ResultStore, machine, versions  # noqa: E402

SAME_GENERATOR_SET = "set_3.jsonl"  # Table 1's DiLM set from runs/cpu_seed1


def finite(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 4)


def cell(scores: list[float]) -> dict:
    s = summary(scores)
    return {"mean": finite(s.mean), "std": finite(s.std), "n": s.n}


def main(lora_store: str, table1_store: str, out: str) -> int:
    with ResultStore(lora_store) as store:
        lora = store.query(method="dilm_lora", learner="minilm-l6")
    with ResultStore(table1_store) as store:
        full = store.query(method="dilm", learner="minilm-l6")
    if not lora:
        raise SystemExit(f"{lora_store}: no dilm_lora runs (run benchmarks/sst2_lora.sh)")
    protocols = {r.key.protocol for r in lora}
    full = [r for r in full if r.key.protocol in protocols]
    if not full:
        raise SystemExit(f"{table1_store}: no dilm runs under the LoRA runs' protocol {sorted(protocols)}")
    result: dict = {"learner": "minilm-l6", "metric": lora[0].metric, "protocol": lora[0].protocol_fields,
                    "lora": "distill.lora_rank=16, distill.lr=1e-4", "full": "Table 1 DiLM, distill.lr=1e-5",
                    "versions": versions(), "machine": machine(), "dpc": {}}
    for k in sorted({r.dpc for r in lora}):
        a = [r.score for r in lora if r.dpc == k]
        b = [r.score for r in full if r.dpc == k]
        b3 = [r.score for r in full if r.dpc == k and Path(r.set_path).name == SAME_GENERATOR_SET]
        result["dpc"][str(k)] = {
            "lora": cell(a), "full_all_sets": cell(b), "full_same_generator": cell(b3),
            "p_vs_full_all_sets": finite(welch(a, b)),
            "p_vs_full_same_generator": finite(welch(a, b3)),
            "lora_per_set": {Path(p).name: cell([r.score for r in lora if r.dpc == k and r.set_path == p])
                             for p in sorted({r.set_path for r in lora if r.dpc == k})},
        }
    write_json(Path(out), result)
    print(json.dumps(result["dpc"], indent=2))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    sys.exit(main(*sys.argv[1:4]))
