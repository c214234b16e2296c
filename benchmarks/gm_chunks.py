"""Why the gradient-matching update sits above its floor: small-matrix bf16 rates and chunk sizes.

`python benchmarks/gm_chunks.py [OUT.json]` (default docs/results/gm_chunks.json) measures
1. bf16 matmul rates (GFLOP/s) of (m x 576) @ (576 x n), SmolLM2-135M's shapes, for the row
   counts m that chunks of 8-32 SST-2 rows give, against one 2048^3 product;
2. the generator's forward + backward of `token_logprobs` on the bench's 32 synthetic rows with
   chunks of 8, 16 and 32 rows (median of 4, interleaved).
Numbers depend on what else runs on the machine: compare within one run only.
"""

from __future__ import annotations

import datetime
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from dilm.bench import SIZES, gm_batches, matmul_gflops  # noqa: E402
from dilm.config import DataConfig  # noqa: E402
from dilm.data import load_dataset  # noqa: E402
from dilm.generator import load_generator  # noqa: E402
from dilm.io import write_json  # noqa: E402
from dilm.runtime import autocast  # noqa: E402
from dilm.store import versions  # noqa: E402


def main(out: str = "docs/results/gm_chunks.json") -> int:
    torch.manual_seed(0)
    rates = {"2048x2048x2048": matmul_gflops(2048, 2048, 2048, torch.bfloat16)}
    for m in (120, 480, 960):
        for n in (576, 1536, 49152):
            rates[f"{m}x576x{n}"] = matmul_gflops(m, 576, n, torch.bfloat16)
    gen = load_generator("smollm2-135m", 2, False)
    gen.model.train()
    _, syn = gm_batches(gen, load_dataset(DataConfig(dataset="sst2")).train, 2, SIZES["full"], 0)
    rows = [s for per_class in syn for s in per_class]

    def step(chunk: int) -> float:
        gen.model.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        with autocast("bf16"):
            logp, count = gen.token_logprobs(rows, micro_batch=chunk)
        (logp / count).sum().backward()
        return time.perf_counter() - t0

    times: dict[int, list[float]] = {8: [], 16: [], 32: []}
    for chunk in times:
        step(chunk)  # warm-up
    for _ in range(4):
        for chunk in times:
            times[chunk].append(step(chunk))
    result = {
        "command": "python benchmarks/gm_chunks.py",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": platform.platform(), "threads": torch.get_num_threads(), "versions": versions(),
        "seed": 0, "row_lengths": sorted(len(r) for r in rows),
        "matmul_bf16_gflops": {k: round(v, 1) for k, v in rates.items()},
        "generator_fwd_bwd_s": {str(c): {"median": round(statistics.median(v), 3), "all": [round(x, 3) for x in v]}
                                for c, v in times.items()},
    }
    write_json(Path(out), result)
    print(result["matmul_bf16_gflops"], result["generator_fwd_bwd_s"], sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
