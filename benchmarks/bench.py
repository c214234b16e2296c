"""Performance benchmark (issue 4): `python benchmarks/bench.py [--quick]` from anywhere.

Writes docs/results/bench.json and docs/performance.md in this repository; see dilm/bench.py.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from dilm.bench_report import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python benchmarks/bench.py", root=ROOT))
