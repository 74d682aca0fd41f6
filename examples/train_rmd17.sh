#!/usr/bin/env bash
# rMD17 standard protocol in one command: fit on train_01 (950 structures, 50 for
# validation), then report errors of the best model on all 1000 frames of test_01.
#
#   bash examples/train_rmd17.sh [MOLECULE] [TIME_BUDGET] [extra se3t train flags...]
#   bash examples/train_rmd17.sh ethanol 60m --threads 2
#   SETTINGS=fast bash examples/train_rmd17.sh aspirin 60m      # examples/rmd17-fast.toml
#   SETTINGS=fast bash examples/train_rmd17.sh ethanol 20m --committee 3   # 3 members, 20 min each
#
# SETTINGS picks examples/rmd17-SETTINGS.toml (fast, accurate; default: examples/rmd17.toml,
# the default model). E0 comes from isolated_atoms_pbe_def2svp.xyz beside the data when
# it is there, else from a least-squares fit.
# RMD17_DIR points to the folder with rmd17_<molecule>_<train|test>_01.npz, or the one
# above it (default: ../shared/data/rmd17); PYTHON to the interpreter with se3t_calc
# installed. Files with fewer than 1000 frames need --train-size (or --train-size none)
# and --valid-size to fit them. The run folder is runs/rmd17[-SETTINGS]_MOLECULE_BUDGET
# unless --output-dir names another.
set -euo pipefail
cd "$(dirname "$0")/.."
molecule=${1:-ethanol}
budget=${2:-60m}
shift $(( $# < 2 ? $# : 2 ))
data=${RMD17_DIR:-../shared/data/rmd17}
if [ ! -f "$data/rmd17_${molecule}_train_01.npz" ] && [ -f "$data/rmd17/rmd17_${molecule}_train_01.npz" ]; then
    data="$data/rmd17"   # RMD17_DIR named the folder above the files
fi
for split in train test; do
    if [ ! -f "$data/rmd17_${molecule}_${split}_01.npz" ]; then
        echo "train_rmd17.sh: no $data/rmd17_${molecule}_${split}_01.npz; set RMD17_DIR to the folder" \
            "holding rmd17_<molecule>_<train|test>_01.npz (e.g. RMD17_DIR=/data/rmd17 bash $0 $molecule)" >&2
        exit 1
    fi
done
settings=examples/rmd17${SETTINGS:+-$SETTINGS}.toml
[ -f "$settings" ] || { echo "train_rmd17.sh: no $settings (SETTINGS=fast or accurate)" >&2; exit 1; }
e0=()
[ -f "$data/isolated_atoms_pbe_def2svp.xyz" ] && e0=(--atomic-energies "$data/isolated_atoms_pbe_def2svp.xyz")
out="runs/rmd17${SETTINGS:+-$SETTINGS}_${molecule}_${budget}"
args=("$@")
for i in "${!args[@]}"; do   # an --output-dir among the flags overrides the folder name
    case ${args[i]} in
        --output-dir) out=${args[i+1]:-$out} ;;
        --output-dir=*) out=${args[i]#*=} ;;
    esac
done
python=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
"$python" -m se3t_calc.cli train "$settings" \
    --train-file "$data/rmd17_${molecule}_train_01.npz" \
    --test-file "$data/rmd17_${molecule}_test_01.npz" \
    "${e0[@]}" \
    --max-time "$budget" \
    --output-dir "$out" \
    "$@"
trained="$out/best.pt"
[ -f "$trained" ] || trained="$out"   # --committee N: the folder of member_k.pt files
"$python" -m se3t_calc.cli eval "$trained" \
    "$data/rmd17_${molecule}_test_01.npz"
