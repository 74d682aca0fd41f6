#!/usr/bin/env bash
# rMD17 standard protocol in one command: fit on train_01 (950 structures, 50 for
# validation), then report errors of the best model on all 1000 frames of test_01.
#
#   bash examples/train_rmd17.sh [MOLECULE] [TIME_BUDGET] [extra se3t train flags...]
#   bash examples/train_rmd17.sh ethanol 60m --threads 2
#
# RMD17_DIR points to the folder with rmd17_<molecule>_<train|test>_01.npz
# (default: ../shared/data/rmd17); PYTHON to the interpreter with se3t_calc installed.
set -euo pipefail
cd "$(dirname "$0")/.."
molecule=${1:-ethanol}
budget=${2:-60m}
shift $(( $# < 2 ? $# : 2 ))
data=${RMD17_DIR:-../shared/data/rmd17}
python=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
"$python" -m se3t_calc.cli train examples/rmd17.toml \
    --train-file "$data/rmd17_${molecule}_train_01.npz" \
    --test-file "$data/rmd17_${molecule}_test_01.npz" \
    --max-time "$budget" \
    --output-dir "runs/rmd17_${molecule}_${budget}" \
    "$@"
"$python" -m se3t_calc.cli eval "runs/rmd17_${molecule}_${budget}/best.pt" \
    "$data/rmd17_${molecule}_test_01.npz"
