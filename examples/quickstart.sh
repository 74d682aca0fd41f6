#!/usr/bin/env bash
# Set up a virtual environment in .venv, install se3t_calc and run MD of ethanol with the
# shipped rMD17 ethanol model (models/rmd17-ethanol.pt).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# PyTorch's CPU build: from PyPI, pip on Linux takes the CUDA build and its CUDA libraries (gigabytes).
# TORCH_INDEX_URL= (empty) takes the default index, e.g. where a local mirror serves CPU wheels.
index=${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    .venv/bin/python -m pip install --quiet torch ${index:+--index-url "$index"}
fi
.venv/bin/python -m pip install --quiet -e ".[test]"
.venv/bin/se3t models
mkdir -p runs
.venv/bin/se3t md rmd17-ethanol examples/structures/ethanol.xyz \
    --ensemble langevin --temperature-K 300 --timestep-fs 0.5 --steps 200 --log-every 20 \
    --out runs/quickstart.traj --overwrite --device cpu --dtype float32
