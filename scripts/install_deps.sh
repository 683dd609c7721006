#!/usr/bin/env bash
# Installs what ltgen needs on Debian 12, idempotently and only what is missing.
#   scripts/install_deps.sh          build tools, BLAS, zlib, MPI and Clang 14 (to build ltgen and generated programs)
#   scripts/install_deps.sh --test   also the test oracles: LibTorch, PyTorch, numpy, and a
#                                    venv (system torch + PyPI's safetensors) at $LTGEN_VENV,
#                                    and the real data sets of specs/ (scripts/prepare_data.sh)
set -euo pipefail

# Clang LibTooling and libFormat for ltgen (hooks files, formatting generated code), linked as the shared
# libclang-cpp and libLLVM: libclang-14-dev, libclang-cpp14-dev and llvm-14-dev. CMake's Clang package
# (in clang-14) checks that every file it exports exists, so the clang tools packages come too.
clang_packages=(clang-14 clang-format-14 clang-tidy-14 clang-tools-14 clangd-14 libclang-14-dev libclang-cpp14-dev
                llvm-14-dev)
# MPICH: DDP programs (trainer.strategy "ddp") average gradients over MPI and run under its mpirun.
packages=(g++ cmake ninja-build pkg-config libopenblas-dev zlib1g-dev ccache libmpich-dev mpich "${clang_packages[@]}")
if [[ "${1:-}" == "--test" ]]; then
  # jargon-text: The Jargon File, the corpus of specs/gpt.json (/usr/share/doc/jargon-text/jargon.txt.gz).
  packages+=(libgtest-dev libbenchmark-dev libtorch-dev python3-torch python3-numpy python3-venv python3-pip jargon-text)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "install_deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" > /tmp/ltgen-apt.log 2>&1 ||
    { tail -20 /tmp/ltgen-apt.log; exit 1; }
fi

# The CUDA toolkit (nvcc, cudart, cuBLASLt) comes with the machine (/usr/local/cuda here), like
# the compiler: it is not in Debian's main archive, and NVIDIA's repository is not a source this
# project installs from. The tests build every example spec's CUDA program (cuda_build), so
# tests/cuda/CMakeLists.txt stops the configure with a clear message where nvcc is missing,
# unless -DLTGEN_CUDA_TESTS=OFF says this machine is not meant to build CUDA programs.
if [[ "${1:-}" == "--test" ]]; then
  # Debian's torch for the oracles, plus the real safetensors, tensorboard and jsonschema packages from PyPI.
  venv="${LTGEN_VENV:-/opt/ltgen/venv}"
  if [[ ! -x "$venv/bin/python" ]]; then
    mkdir -p "$(dirname "$venv")"
    /usr/bin/python3 -m venv --system-site-packages "$venv"
  fi
  "$venv/bin/python" -c "import safetensors" 2> /dev/null ||
    "$venv/bin/python" -m pip install -q --disable-pip-version-check safetensors
  "$venv/bin/python" -c "import tensorboard" 2> /dev/null ||
    "$venv/bin/python" -m pip install -q --disable-pip-version-check tensorboard
  "$venv/bin/python" -c "import jsonschema" 2> /dev/null ||
    "$venv/bin/python" -m pip install -q --disable-pip-version-check jsonschema

  # The newest torch and Lightning from PyPI, for the test that runs `ltgen --emit lightning`
  # scripts with real Lightning (Debian's torch 1.13 is too old for Lightning 2).
  lightning_venv="${LTGEN_LIGHTNING_VENV:-/opt/ltgen/lightning-venv}"
  if [[ ! -x "$lightning_venv/bin/python" ]]; then
    mkdir -p "$(dirname "$lightning_venv")"
    /usr/bin/python3 -m venv "$lightning_venv"
  fi
  # (psutil: Lightning's DeviceStatsMonitor reads the CPU's statistics with it; torchvision: the
  # transforms of the specs' data)
  "$lightning_venv/bin/python" -c "import torch, lightning, tensorboard, safetensors, numpy, psutil, torchvision" \
    2> /dev/null ||
    "$lightning_venv/bin/python" -m pip install -q --disable-pip-version-check torch lightning tensorboard safetensors \
      numpy psutil torchvision

  # Real data from Debian's packages for specs/digits.json and specs/fashion_mnist.json.
  "$(dirname "$0")/prepare_data.sh"
fi
