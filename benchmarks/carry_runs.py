"""Copy stored learner runs of some methods from one results store into another.

`python benchmarks/carry_runs.py SRC.sqlite DST.sqlite --method dilm [...] [--dpc 5 ...]
[--as METHOD --sets DIR]`

A run is keyed by (set hash, learner, protocol, seed), so a run of the same set under the same
protocol and seed is the same measurement whichever study asked for it. Each run is copied only if
the set file it names still exists and still has the stored hash; runs DST already has are kept.

`--as METHOD --sets DIR`: the runs are filed under METHOD and under the file below DIR with the same
bytes (a study's set copied into a table's set folder, or an archived set moved away from the path its
store names); a run whose set has no copy there is refused.
"""

import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dilm.errors import DilmError  # noqa: E402
from dilm.store import ResultStore, file_hash  # noqa: E402


def refiled(runs: list, method: str, sets: Path) -> list:
    """`runs` under `method`, each naming the file below `sets` that has its set's bytes."""
    copies = {file_hash(p): p for p in sorted(sets.rglob("*.jsonl"))}
    out = []
    for r in runs:
        if r.key.set_hash not in copies:
            raise DilmError(f"{r.set_path}: no file under {sets} has its bytes (copy the set there first)")
        path = copies[r.key.set_hash]
        name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
        out.append(dataclasses.replace(r, method=method, set_path=name))
    return out


def carry(src: str, dst: str, methods: list[str], dpcs: list[int] | None, as_method: str | None = None,
          sets: Path | None = None) -> int:
    """Copy the runs (re-filed with `as_method` and `sets` when given); return how many were new in DST."""
    if (as_method is None) != (sets is None):
        raise DilmError("--as and --sets go together")
    with ResultStore(src) as s:
        runs = [r for m in methods for r in s.query(method=m) if dpcs is None or r.dpc in dpcs]
    if not runs:
        raise DilmError(f"{src}: no runs of {', '.join(methods)}" + (f" at DPC {dpcs}" if dpcs else ""))
    if as_method is not None:  # the copies are found by their bytes: the path they name now has the hash
        runs = refiled(runs, as_method, sets.resolve())
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
    ap.add_argument("--as", dest="as_method", metavar="METHOD", help="file the runs under this method")
    ap.add_argument("--sets", type=Path, help="...and under the copies of their sets below this folder")
    args = ap.parse_args(argv)
    n = carry(args.src, args.dst, args.method, args.dpc, args.as_method, args.sets)
    print(f"{n} runs carried from {args.src} to {args.dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
