#!/usr/bin/env bash
# Set up (if needed) and run the demo preset end to end: SST-2, packaged models, DPC 5, <= 10 min on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/dilm run --preset demo "$@"
