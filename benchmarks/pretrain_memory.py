"""Peak memory of one pre-training step on the worst-case batch, with and without gradient accumulation.

`python benchmarks/pretrain_memory.py [OUT.json]` (default docs/results/pretrain_memory.json):
SmolLM2-135M, 32 rows x 64 tokens (the `cpu` preset's batch at its max_length), bf16 autocast,
AdamW; two steps per setting, each setting in a fresh process so that high-water marks do not
carry over. Reports VmRSS and VmHWM (GiB) after each step.
"""

from __future__ import annotations

import datetime
import json
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def status_gib() -> dict:
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {k: round(float(fields[k].split()[0]) / 2**20, 3) for k in ("VmRSS", "VmHWM")}


def one_setting(accum: int) -> list[dict]:
    from dilm.generator import load_generator
    from dilm.runtime import adamw, autocast

    gen = load_generator("smollm2-135m", 2, False, 64)
    gen.model.train()
    opt = adamw(gen.model.parameters(), lr=1e-4, weight_decay=0.0)
    seqs = [[gen.class_token_ids[0]] + [100 + (i * 7 + j) % 5000 for j in range(62)] + [gen.eos_id]
            for i in range(32)]
    out = [{"after": "load", **status_gib()}]
    for step in range(2):
        opt.zero_grad(set_to_none=True)
        for k in range(accum):
            with autocast("bf16"):
                loss = gen.lm_loss(seqs[k * 32 // accum: (k + 1) * 32 // accum], 32)
            loss.backward()
        opt.step()
        out.append({"after": f"step {step}", **status_gib()})
    return out


def main(out: str = "docs/results/pretrain_memory.json") -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        print(json.dumps(one_setting(int(sys.argv[2]))))
        return 0
    from dilm.io import write_json
    from dilm.store import versions

    result = {"command": "python benchmarks/pretrain_memory.py", "batch": "32 rows x 64 tokens",
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": platform.platform(), "versions": versions(), "seed": "none (fixed token ids)",
              "grad_accum": {}}
    for accum in (1, 2):
        done = subprocess.run([sys.executable, __file__, "--one", str(accum)], capture_output=True, text=True,
                              check=True)
        result["grad_accum"][str(accum)] = json.loads(done.stdout.strip().splitlines()[-1])
        print(accum, result["grad_accum"][str(accum)])
    write_json(Path(out), result)
    return 0


if __name__ == "__main__":
    sys.exit(main(*[a for a in sys.argv[1:2] if not a.startswith("--")]))
