#!/usr/bin/env bash
# Installs what ltgen needs on Debian 12, idempotently and only what is missing.
#   scripts/install_deps.sh          build tools, BLAS and zlib (to build ltgen and generated programs)
#   scripts/install_deps.sh --test   also the test oracles: LibTorch, PyTorch, numpy, and a
#                                    venv (system torch + PyPI's safetensors) at $LTGEN_VENV,
#                                    and the real data sets of specs/ (scripts/prepare_data.sh)
set -euo pipefail

packages=(g++ cmake ninja-build pkg-config libopenblas-dev zlib1g-dev ccache)
if [[ "${1:-}" == "--test" ]]; then
  # jargon-text: The Jargon File, the corpus of specs/gpt.json (/usr/share/doc/jargon-text/jargon.txt.gz).
  packages+=(libgtest-dev libbenchmark-dev libtorch-dev python3-torch python3-numpy python3-venv python3-pip jargon-text curl ca-certificates)
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

# The CUDA toolkit (nvcc, cudart, cuBLASLt): the tests build every example spec's CUDA program
# (cuda_build), which needs nvcc even without a GPU. Where it is missing, NVIDIA's apt repository
# for Debian 12 provides it; tests/cuda/CMakeLists.txt fails the configure without it unless
# -DLTGEN_CUDA_TESTS=OFF says this machine is not meant to build CUDA programs.
cuda_nvcc() {
  command -v nvcc 2> /dev/null || { [[ -x /usr/local/cuda/bin/nvcc ]] && echo /usr/local/cuda/bin/nvcc; } ||
    { [[ -n "${CUDA_PATH:-}" && -x "$CUDA_PATH/bin/nvcc" ]] && echo "$CUDA_PATH/bin/nvcc"; }
}
if [[ "${1:-}" == "--test" && -z "$(cuda_nvcc)" ]]; then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "install_deps: installing the CUDA toolkit's compiler and libraries (NVIDIA's Debian 12 repository)"
  keyring=/tmp/ltgen-cuda-keyring.deb
  curl -fsSL -o "$keyring" https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/cuda-keyring_1.1-1_all.deb
  $sudo dpkg -i "$keyring" > /tmp/ltgen-apt.log 2>&1 || { tail -20 /tmp/ltgen-apt.log; exit 1; }
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q cuda-nvcc-13-0 cuda-cudart-dev-13-0 libcublas-dev-13-0 \
    > /tmp/ltgen-apt.log 2>&1 || { tail -20 /tmp/ltgen-apt.log; exit 1; }
  [[ -n "$(cuda_nvcc)" ]] || { echo "install_deps: the CUDA toolkit was installed but nvcc is not in /usr/local/cuda/bin" >&2; exit 1; }
fi

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
  "$lightning_venv/bin/python" -c "import torch, lightning, tensorboard, safetensors, numpy" 2> /dev/null ||
    "$lightning_venv/bin/python" -m pip install -q --disable-pip-version-check torch lightning tensorboard safetensors numpy

  # Real data from Debian's packages for specs/digits.json and specs/fashion_mnist.json.
  "$(dirname "$0")/prepare_data.sh"
fi
