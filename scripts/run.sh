#!/usr/bin/env bash
# Quick start: installs what is missing, builds ltgen, then generates, builds and
# trains a spec (default specs/linear.json). Arguments after the spec go to the
# generated program, e.g.  scripts/run.sh specs/mlp.json --trainer.max_epochs=1
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLTGEN_BUILD_TESTS=OFF -DLTGEN_BUILD_BENCH=OFF > build.cmake.log 2>&1 ||
  { cat build.cmake.log; exit 1; }
cmake --build build --target ltgen | grep -v "^ninja: no work to do" || true
test -x build/ltgen || { echo "run.sh: building ltgen failed" >&2; exit 1; }

spec="${1:-specs/linear.json}"
shift || true
out="out/$(basename "$spec" .json)"
# Specs on real data (specs/digits.json, specs/fashion_mnist.json) read what prepare_data.sh prepares.
if grep -q '"\.\./data/' "$spec"; then scripts/prepare_data.sh; fi
log=$(build/ltgen "$spec" -o "$out" 2>&1) || { echo "$log" >&2; exit 1; }
program=$(sed -n 's/^ltgen: built //p' <<< "$log")
echo "run.sh: training with $program" >&2
"$program" "$@"
