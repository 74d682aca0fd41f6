#!/usr/bin/env bash
# Set up a virtual environment in .venv, install se3t_calc, write a model and run MD.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    .venv/bin/python -m pip install --quiet torch==2.13.0
fi
.venv/bin/python -m pip install --quiet -e ".[test]"
# untrained model (random weights) until trained models are shipped in models/
.venv/bin/se3t init runs/quickstart.pt --species H C O
.venv/bin/se3t md runs/quickstart.pt examples/structures/ethanol.xyz \
    --ensemble langevin --temperature-K 300 --timestep-fs 0.5 --steps 200 --log-every 20 \
    --out runs/quickstart.traj --device cpu --dtype float32
