#!/usr/bin/env bash
# The sampler comparisons of benchmarks/samplers.py and static_path.py on a CUDA device (about
# two minutes on an H200): the windowed EAT sampler (exact-count and static paths, eager and
# compiled) against the published materialised algorithm and torch.poisson, the same rates and
# temperatures as on CPU. Needs a GPU build of torch; writes samplers_cuda.json and
# static_path_cuda.json.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
"$PYTHON" benchmarks/samplers.py --device cuda --out benchmarks/results/samplers_cuda.json
"$PYTHON" benchmarks/static_path.py --device cuda --out benchmarks/results/static_path_cuda.json
