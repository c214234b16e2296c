"""Copy one method's runs from one results store into another (kept as they were: machine, seconds, created).

`python benchmarks/copy_runs.py FROM_STORE TO_STORE --method M`

For a reference store that gathers runs already made elsewhere, so they are not rerun. A run whose key
is already in TO_STORE is kept as it is there. Prints how many runs were new.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dilm.errors import DilmError  # noqa: E402
from dilm.store import ResultStore  # noqa: E402


def copy_runs(source: Path, target: Path, method: str) -> int:
    """Add every run of `method` in `source` to `target`; returns how many were new there."""
    if not source.exists():
        raise DilmError(f"{source}: no such results store")
    with ResultStore(source) as s:
        runs = s.query(method=method)
    if not runs:
        raise DilmError(f"{source}: no runs of method '{method}'")
    with ResultStore(target) as t:
        return sum(t.add(r) for r in runs)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path)
    ap.add_argument("target", type=Path)
    ap.add_argument("--method", required=True)
    a = ap.parse_args(argv)
    print(f"{copy_runs(a.source, a.target, a.method)} new runs of '{a.method}' in {a.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
