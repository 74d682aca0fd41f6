#!/usr/bin/env bash
# Create one virtual environment per peer potential, so that their pins
# (mace-torch needs e3nn 0.4.4, we use 0.6) never meet ours.
#
#   bash benchmarks/peers/setup.sh [mace nequip torchmd]
#
# torch==2.13.0 goes in first in every environment: with it installed, the
# peers' own torch requirement is already met and no CUDA wheels are pulled.
set -euo pipefail
root=${SE3T_PEERS_DIR:-runs/peers}
python=${PYTHON:-python3}

declare -A packages=(
    [mace]="mace-torch==0.3.16"
    [nequip]="nequip==0.19.1"
    [torchmd]="torchmd-net==3.1.0"
)

for name in "${@:-mace nequip torchmd}"; do
    for peer in $name; do
        env="$root/$peer"
        echo "== $peer -> $env"
        "$python" -m venv "$env"
        "$env/bin/pip" install -q --upgrade pip
        "$env/bin/pip" install -q torch==2.13.0
        "$env/bin/pip" install -q ${packages[$peer]} ase
        "$env/bin/python" -c "import torch; print('torch', torch.__version__)"
    done
done
