#!/usr/bin/env bash
# Rewrites generated/ with what the current ltgen emits for every spec in specs/.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build --target ltgen > /dev/null
tests/generator/check_generated.sh build/ltgen --update
