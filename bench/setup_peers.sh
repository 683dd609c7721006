#!/usr/bin/env bash
# Installs the benchmark's peers, idempotently:
#   - a venv at $LTGEN_BENCH_VENV (default /opt/ltgen/bench-venv) with the newest torch and
#     lightning from PyPI (the default PyPI torch wheel; it pulls CUDA libraries, ~4 GB disk,
#     which the CPU runs never load),
#   - Debian's python3-torch / libtorch-dev 1.13 with libopenblas (via scripts/install_deps.sh
#     --test) as the reference peer, and hyperfine for whole-process timings.
# Prints what it installed. Falls back to Debian's torch only if PyPI is unreachable: run.sh
# then reports the PyPI peer as missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${LTGEN_BENCH_VENV:-/opt/ltgen/bench-venv}"
py="${LTGEN_BENCH_SYS_PYTHON:-/usr/bin/python3}"

"$here/../scripts/install_deps.sh" --test
# Optional tools: hyperfine (whole-process times; run.sh falls back to a date loop), perf.
extra=()
for p in hyperfine linux-perf; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || extra+=("$p")
done
if ((${#extra[@]})); then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${extra[@]}"; } \
    > /tmp/ltgen-bench-apt.log 2>&1 || echo "setup_peers: could not install ${extra[*]} (optional)"
fi
# Without OpenBLAS Debian's torch uses the reference BLAS (~12x slower): make sure the
# libblas.so.3 alternative points at OpenBLAS.
if ! readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 | grep -q openblas; then
  echo "setup_peers: warning: libblas.so.3 is not OpenBLAS: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)"
fi

if [[ ! -x "$venv/bin/python" ]]; then
  mkdir -p "$(dirname "$venv")"
  "$py" -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import torch, lightning" 2> /dev/null; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip || true
  if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade torch lightning numpy; then
    echo "setup_peers: could not install torch/lightning from PyPI; run.sh will use Debian's torch only"
    exit 0
  fi
fi
"$venv/bin/python" - <<'PY'
import torch, lightning, numpy
print(f"setup_peers: PyPI peer: torch {torch.__version__}, lightning {lightning.__version__}, numpy {numpy.__version__}")
PY
