#!/usr/bin/env bash
# Installs what is missing, builds everything (ltgen, runtime, tests, benchmarks)
# and runs the whole CTest suite. Idempotent; a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install_deps.sh --test
jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLTGEN_VENV="${LTGEN_VENV:-/opt/ltgen/venv}"
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs" "$@"
