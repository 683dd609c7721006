#!/usr/bin/env bash
# Installs what is missing, builds everything (ltgen, runtime, tests, benchmarks)
# and runs the whole CTest suite. Idempotent; a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install_deps.sh --test
# An OpenBLAS older than this CPU would run its generic kernels: choose those for the CPU
# (scripts/openblas_coretype.py says why; the generated programs warn about it themselves).
coretype=$(python3 scripts/openblas_coretype.py)
if [[ -n "$coretype" ]]; then
  echo "test.sh: OpenBLAS does not recognise this CPU: OPENBLAS_CORETYPE=$coretype for the tests"
  export OPENBLAS_CORETYPE="$coretype"
fi
jobs=$(nproc)
# ccache (install_deps.sh installs it): a clone built before on this machine, at any path (paths
# below the checkout are hashed relative to it), rebuilds only what changed since.
launcher=()
if command -v ccache > /dev/null; then
  export CCACHE_BASEDIR="$PWD"
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLTGEN_VENV="${LTGEN_VENV:-/opt/ltgen/venv}" "${launcher[@]}"
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs" "$@"
