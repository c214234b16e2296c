"""How far did a training stage move the generator? `python benchmarks/weight_change.py BEFORE AFTER [OUT.json]`

BEFORE and AFTER are generator folders (model.safetensors). Prints and writes the relative change
||after - before|| / ||before|| over all weights and per kind of tensor (embeddings, attention,
MLP, norms), and the largest relative change of any one tensor: gradient matching that barely
moves the weights cannot change what the generator writes.
"""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file


def kind(name: str) -> str:
    for key in ("embed", "attn", "mlp", "norm", "lm_head"):
        if key in name:
            return key
    return "other"


def main(before: str, after: str, out: str | None = None) -> int:
    a = load_file(str(Path(before) / "model.safetensors"))
    b = load_file(str(Path(after) / "model.safetensors"))
    if a.keys() != b.keys():
        raise SystemExit(f"{before} and {after} hold different tensors")
    sums: dict[str, list[float]] = {}
    worst = (0.0, "")
    for name in sorted(a):
        x, y = a[name].double(), b[name].double()
        d2, n2 = (y - x).pow(2).sum().item(), x.pow(2).sum().item()
        for group in ("all", kind(name)):
            cell = sums.setdefault(group, [0.0, 0.0])
            cell[0] += d2
            cell[1] += n2
        if n2 > 0 and (d2 / n2) ** 0.5 > worst[0]:
            worst = ((d2 / n2) ** 0.5, name)
    result = {"before": before, "after": after,
              "relative_change": {g: (d / n) ** 0.5 if n else None for g, (d, n) in sums.items()},
              "largest_tensor_change": {"tensor": worst[1], "relative": worst[0]}}
    print(json.dumps(result, indent=1))
    if out:
        Path(out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
