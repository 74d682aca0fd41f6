#!/usr/bin/env bash
# Build LAMMPS for `pair_style mliap unified` (se3t_calc.integrations.lammps): packages ML-IAP
# with its Python coupling (PKG_PYTHON, MLIAP_ENABLE_PYTHON), MPI and shared libraries, from
# Debian's lammps source package, into a cache folder outside the clone. A finished build
# there is reused.
#
#   examples/lammps/build_lammps.sh                   # build, or reuse the cached build
#   examples/lammps/build_lammps.sh --configure-only  # stop after cmake's configure step
#   source ~/.cache/se3t_calc/lammps/env.sh           # lmp on PATH, liblammps found
#
# Needs cmake, a C++ compiler and MPI (Debian: apt-get install cmake g++ libopenmpi-dev
# openmpi-bin), and in $PYTHON (default: python3 on PATH, e.g. the project's virtual
# environment, activated) numpy, cython and se3t_calc; the lammps Python module is
# installed into it. Settings: SE3T_LAMMPS_CACHE (folder), PYTHON, JOBS (parallel compile
# jobs), LAMMPS_DEBIAN_VERSION, LAMMPS_DEBIAN_SUITE.
set -euo pipefail

CACHE=${SE3T_LAMMPS_CACHE:-$HOME/.cache/se3t_calc/lammps}
PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-$(nproc)}
VERSION=${LAMMPS_DEBIAN_VERSION:-20250204+dfsg.1-2}   # first Debian release with ML-IAP unified
SUITE=${LAMMPS_DEBIAN_SUITE:-trixie}
CONFIGURE_ONLY=0
[[ "${1:-}" == "--configure-only" ]] && CONFIGURE_ONLY=1

SRC="$CACHE/src-$VERSION"
BUILD="$CACHE/build-$VERSION"
# ML-IAP 20250204 sizes its copy of the neighbour lists natoms x npairs (quadratic: a
# 13 824-atom box asks for 123 GB); the patch sizes each row by the atom's own neighbours
PATCH="$(cd "$(dirname "$0")" && pwd)/mliap_firstneigh.patch"
patched() { grep -q "se3t_calc patch" "$SRC/src/ML-IAP/mliap_data.cpp"; }

if [[ -f "$CACHE/install/.complete" && $CONFIGURE_ONLY == 0 ]] && patched; then
    echo "reusing the LAMMPS build in $CACHE/install (delete that folder to rebuild)"
    # a new environment (e.g. a fresh virtual environment) gets the lammps module of that build
    "$PYTHON" -c "import lammps.mliap" 2>/dev/null || "$PYTHON" -m pip install --quiet "$BUILD"/lammps-*.whl
    exit 0
fi

missing=()
command -v cmake >/dev/null || missing+=("cmake (apt-get install cmake)")
command -v mpicxx >/dev/null || missing+=("MPI compilers (apt-get install libopenmpi-dev openmpi-bin)")
"$PYTHON" -c "import numpy, Cython" 2>/dev/null || missing+=("numpy and cython in $PYTHON (pip install cython)")
command -v cythonize >/dev/null || missing+=("cythonize on PATH (pip install cython, in the activated environment)")
if (( ${#missing[@]} )); then
    printf 'build_lammps.sh: missing %s\n' "${missing[@]}" >&2
    exit 1
fi

mkdir -p "$CACHE"
if [[ ! -d "$SRC" ]]; then
    # a private apt configuration: the system's sources and lists stay as they are
    apt_dir="$CACHE/apt"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$CACHE/download"
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main" \
        > "$apt_dir/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
    apt-get -q "${apt_opts[@]}" update
    # apt checks each file against the signed index; only the upstream tarball is needed
    # (some mirrors answer 404 for the .dsc, which makes apt-get fail after the tarball)
    (cd "$CACHE/download" && apt-get -q "${apt_opts[@]}" source --download-only "lammps=$VERSION") || true
    orig=$(ls "$CACHE"/download/lammps_"${VERSION%-*}".orig.tar.* 2>/dev/null | head -n 1)
    if [[ -z "$orig" ]]; then
        echo "build_lammps.sh: could not download the lammps $VERSION source from Debian $SUITE" >&2
        exit 1
    fi
    tmp=$(mktemp -d "$CACHE/unpack.XXXXXX")
    tar -xf "$orig" -C "$tmp"
    mv "$tmp"/* "$SRC"
    rmdir "$tmp"
fi
patched || patch -d "$SRC" -p1 < "$PATCH"

cmake -S "$SRC/cmake" -B "$BUILD" \
    -D CMAKE_BUILD_TYPE=Release \
    -D CMAKE_INSTALL_PREFIX="$CACHE/install" \
    -D BUILD_MPI=on -D BUILD_OMP=off -D BUILD_SHARED_LIBS=on \
    -D PKG_ML-IAP=on -D PKG_ML-SNAP=on -D PKG_PYTHON=on -D MLIAP_ENABLE_PYTHON=on \
    -D WITH_JPEG=off -D WITH_PNG=off -D WITH_FFMPEG=off -D WITH_GZIP=off \
    -D Python_EXECUTABLE="$(command -v "$PYTHON")"
if [[ $CONFIGURE_ONLY == 1 ]]; then
    echo "configured in $BUILD"
    exit 0
fi
cmake --build "$BUILD" -j "$JOBS"
cmake --install "$BUILD"
cmake --build "$BUILD" --target install-python   # the lammps module, into $PYTHON's environment
cat > "$CACHE/env.sh" <<ENV
export PATH="$CACHE/install/bin:\$PATH"
export LD_LIBRARY_PATH="$CACHE/install/lib:\${LD_LIBRARY_PATH:-}"
ENV
touch "$CACHE/install/.complete"
echo "built LAMMPS into $CACHE/install; source $CACHE/env.sh to use it"
