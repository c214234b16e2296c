"""Copy stored learner runs of some methods from one results store into another.

`python benchmarks/carry_runs.py SRC.sqlite DST.sqlite --method dilm [...] [--dpc 5 ...]`

A run is keyed by (set hash, learner, protocol, seed), so a run of the same set under the same
protocol and seed is the same measurement whichever study asked for it. Each run is copied only if
the set file it names still exists and still has the stored hash; runs DST already has are kept.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dilm.errors import DilmError  # noqa: E402
from dilm.store import ResultStore, file_hash  # noqa: E402


def carry(src: str, dst: str, methods: list[str], dpcs: list[int] | None) -> int:
    """Copy the runs; return how many were new in DST."""
    with ResultStore(src) as s:
        runs = [r for m in methods for r in s.query(method=m) if dpcs is None or r.dpc in dpcs]
    if not runs:
        raise DilmError(f"{src}: no runs of {', '.join(methods)}" + (f" at DPC {dpcs}" if dpcs else ""))
    for r in runs:
        path = ROOT / r.set_path  # a relative path is the repository's; an absolute one stays as it is
        if not path.exists():
            raise DilmError(f"{src}: run of {r.method} names {r.set_path}, which does not exist")
        if file_hash(path) != r.key.set_hash:
            raise DilmError(f"{r.set_path} has changed since {src} scored it (hash differs): not carried")
    with ResultStore(dst) as d:
        return sum(d.add(r) for r in runs)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--method", nargs="+", required=True)
    ap.add_argument("--dpc", type=int, nargs="+")
    args = ap.parse_args(argv)
    n = carry(args.src, args.dst, args.method, args.dpc)
    print(f"{n} runs carried from {args.src} to {args.dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
