#!/usr/bin/env bash
# One device-tool run over the kit of scripts/gpu_kit.sh (device time is short, so everything is
# in one command, each part under its own time limit):
#   1. the gpu parity checks (gpu-kit/run.sh), while the benchmark's programs build on the side;
#   2. bench/gpu_bench.py: tokens/s of ltgen, PyTorch eager and torch.compile;
#   3. tests/cuda/mma_check.cu and fp16_check.cu, where they exist (the tensor-core fragment layouts
#      and float16 rounding on the hardware),
#      and bench/cublaslt_probe.cu (the GEMMs' cuBLASLt kernels with and without TF32);
#   4. a per-kernel time breakdown of one ltgen step (Nsight Compute), where ncu works.
# Usage, from the repository root on the GPU machine:
#   [CASES="a b"] [PARALLEL=N] [PROFILE="kit names"] \
#     bash bench/gpu_device_run.sh OUT [PARITY_S BENCH_S PROFILE_S] [GPU_BENCH_ARGS...]
# (CASES, PARALLEL: gpu-kit/run.sh's; PROFILE: which benchmark programs ncu breaks down.)
# OUT gets at most 8 files (the device tool's limit): machine.txt, summary.txt, parity.tgz,
# bench.log, gpu_bench.jsonl, gpu_bench.md, profile.tgz, run.log.
set -uo pipefail
out="${1:?usage: bash bench/gpu_device_run.sh OUT [PARITY_S BENCH_S PROFILE_S] [GPU_BENCH_ARGS...]}"
parity_s="${2:-200}" bench_s="${3:-260}" profile_s="${4:-60}"
shift $(( $# < 4 ? $# : 4 ))
mkdir -p "$out"
out="$(cd "$out" && pwd)"
exec > >(tee "$out/run.log") 2>&1
stamp() { echo "[$(date +%T)] $*"; }
bench_work=/tmp/ltgen-gpu-bench

stamp "building the benchmark's programs on the side"
nice python3 bench/gpu_bench.py --kit gpu-kit/bench --out "$out" --work "$bench_work" --build-only "$@" \
  > /tmp/bench-build.log 2>&1 &
builder=$!

stamp "parity (at most ${parity_s}s)"
rm -rf /tmp/parity-out
timeout -k 5 "$parity_s" bash gpu-kit/run.sh /tmp/parity-out
stamp "parity exited $?"
cp /tmp/parity-out/summary.txt /tmp/parity-out/machine.txt "$out/" 2>/dev/null
tar -czf "$out/parity.tgz" -C /tmp/parity-out parity 2>/dev/null
grep -L "^PASSED" /tmp/parity-out/parity/*.log 2>/dev/null | while read -r log; do
  echo "---- $(basename "$log") (no PASSED): its last lines"; tail -25 "$log"; done

wait "$builder"; stamp "benchmark builds exited $?"; tail -5 /tmp/bench-build.log
stamp "benchmark (at most ${bench_s}s)"
PYTHONUNBUFFERED=1 timeout -k 5 "$bench_s" python3 bench/gpu_bench.py --kit gpu-kit/bench --out "$out" \
  --work "$bench_work" "$@" > "$out/bench.log" 2>&1
stamp "benchmark exited $?"; cat "$out/bench.log" | cut -c1-600

# The tensor-core MMA's fragment layouts against the hardware (the emulator follows the same ones).
if [[ -f tests/cuda/mma_check.cu ]]; then
  stamp "mma_check"
  nvcc -std=c++17 -arch=sm_90 -I runtime/include tests/cuda/mma_check.cu -o /tmp/mma_check && timeout 60 /tmp/mma_check
  stamp "mma_check exited $?"
fi
# ltrt::round_fp16 compiled for the device (16-mixed's rounding) against the GPU's __float2half_rn.
if [[ -f tests/cuda/fp16_check.cu ]]; then
  stamp "fp16_check"
  nvcc -std=c++17 -arch=sm_90 -I runtime/include tests/cuda/fp16_check.cu -o /tmp/fp16_check && timeout 60 /tmp/fp16_check
  stamp "fp16_check exited $?"
fi

# Which cuBLASLt kernels sgemm gets for GPT-2's GEMMs, with TF32 and without, and their speed.
if [[ -f bench/cublaslt_probe.cu ]]; then
  stamp "cublaslt_probe"
  nvcc -O2 -std=c++17 -arch=sm_90 bench/cublaslt_probe.cu -o /tmp/cublaslt_probe -lcublasLt -lcublas &&
    timeout -k 5 90 /tmp/cublaslt_probe 10 > /tmp/cublaslt_probe.txt 2>&1
  stamp "cublaslt_probe exited $?"; cat /tmp/cublaslt_probe.txt
fi

stamp "profile (at most ${profile_s}s)"
ncu="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
mkdir -p /tmp/profile
if [[ -n "$ncu" ]]; then
  # PROFILE: the kit's benchmark programs to break down (default: GPT-2 small with TF32, gpt_char).
  for kit_name in ${PROFILE:-gpt2_small_tf32 gpt_char_bench}; do
    program="$bench_work/$kit_name/build/${kit_name%_tf32}"
    [[ -x "$program" ]] || continue
    # One optimizer step (the graph's kernels, each timed alone), no validation.
    timeout -k 5 $(( profile_s / 2 )) "$ncu" --metrics gpu__time_duration.sum --csv --graph-profiling node \
      "$program" fit --trainer.max_steps=1 --trainer.limit_val_batches=0 \
      --trainer.enable_checkpointing=false --trainer.enable_progress_bar=false \
      --trainer.default_root_dir="/tmp/profile/$kit_name-root" > "/tmp/profile/$kit_name.csv" 2> "/tmp/profile/$kit_name.err"
    stamp "ncu $kit_name exited $?"; tail -3 "/tmp/profile/$kit_name.err"
  done
  tar -czf "$out/profile.tgz" -C /tmp/profile --exclude='*-root' . 2>/dev/null
else
  stamp "no ncu here"
fi
stamp "done"
