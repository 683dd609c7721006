#!/usr/bin/env bash
# Runs every benchmark of bench/README.md in one go, with 1 and 2 threads, and writes a markdown
# report (machine, versions, configurations, medians and ratios) to $OUT/report.md.
#
#   bench/run.sh [--repeats N] [--build DIR] [--out DIR] [--no-build] [--no-lightning]
#
# Peers: the generated step (ltgen_bench) and the generated program itself; a hand-written C++
# loop; LibTorch's C++ frontend (Debian libtorch-dev); a plain PyTorch loop and Lightning's
# Trainer with the newest torch/lightning from PyPI (bench/setup_peers.sh's venv); the plain loop
# with Debian's python3-torch. Run bench/setup_peers.sh first. Timings are only as good as the
# machine is quiet: the report records the load average before and after.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
repeats=5
build="${LTGEN_BENCH_BUILD:-$repo/build-bench}"
out=""
do_build=1
do_lightning=1
while (($#)); do
  case "$1" in
    --repeats) repeats="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --no-lightning) do_lightning=0; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
out="${out:-$build/bench-results}"
venv="${LTGEN_BENCH_VENV:-/opt/ltgen/bench-venv}"
pypi_py="$venv/bin/python"
debian_py=/usr/bin/python3
mkdir -p "$out"
raw="$out/raw.jsonl"
: > "$raw"
: > "$out/load.log"
# Every step is logged with the 1-minute load average, kept in $out/load.log for the report.
log() { echo "run.sh: $*" >&2; echo "$(cut -d' ' -f1 /proc/loadavg) $*" >> "$out/load.log"; }

# OpenBLAS picks its kernels from the CPU unless OPENBLAS_CORETYPE forces one; some
# environments force Haswell (AVX2), which halves sgemm on AVX-512 machines. The benchmark
# measures what OpenBLAS picks by itself (LTGEN_BENCH_KEEP_OPENBLAS_ENV=1 keeps the variable).
env_note="OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-<unset>} in the caller's environment"
if [[ "${LTGEN_BENCH_KEEP_OPENBLAS_ENV:-0}" != 1 ]]; then
  unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
  env_note+="; unset for the runs"
  # ... unless OpenBLAS does not recognise the CPU and would run its generic kernels, as the
  # generated programs then warn: their advice is followed.
  coretype=$(python3 "$repo/scripts/openblas_coretype.py")
  if [[ -n "$coretype" ]]; then
    export OPENBLAS_CORETYPE="$coretype"
    env_note+="; OPENBLAS_CORETYPE=$coretype, as OpenBLAS does not recognise this CPU (scripts/openblas_coretype.py)"
  fi
fi
unset OMP_WAIT_POLICY OMP_NUM_THREADS OPENBLAS_NUM_THREADS MKL_NUM_THREADS

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- build ------------------------------------------------------------------------------------
if ((do_build)); then
  log "building in $build (-j${LTGEN_BENCH_JOBS:-1})"
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLTGEN_BUILD_TESTS=OFF \
    -DLTGEN_BUILD_BENCH=ON > "$out/configure.log"
  cmake --build "$build" -j"${LTGEN_BENCH_JOBS:-1}" --target ltgen ltgen_bench > "$out/build.log"
  cmake --build "$build" -j"${LTGEN_BENCH_JOBS:-1}" --target ltgen_bench_libtorch >> "$out/build.log" 2>&1 ||
    log "ltgen_bench_libtorch not built (LibTorch missing?)"
fi
work="$out/programs"
for spec in linear mlp; do
  if ((do_build)) || [[ ! -x "$work/$spec/$spec" ]]; then
    log "ltgen specs/$spec.json"
    "$build/ltgen" "$repo/specs/$spec.json" -o "$work/$spec" --no-cuda > "$out/ltgen-$spec.log"
  fi
done

# --- Google Benchmark binaries: one JSON file per thread count ---------------------------------
gbench() {  # name binary threads filter [env...]
  local name="$1" bin="$2" threads="$3" filter="$4"; shift 4
  [[ -x "$bin" ]] || { log "$bin missing: $name skipped"; return 0; }
  log "$name threads=$threads"
  env "$@" OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" "$bin" \
    --benchmark_filter="$filter" --benchmark_repetitions="$repeats" --benchmark_min_time=0.3 \
    --benchmark_format=json --benchmark_out="$out/$name-$threads.json" --benchmark_out_format=json \
    > /dev/null 2> "$out/$name-$threads.err"
}
for t in 1 2; do
  gbench ltgen_bench "$build/bench/ltgen_bench" "$t" "BM_generated/.*/threads:$t/"
  gbench libtorch "$build/bench/ltgen_bench_libtorch" "$t" "threads:$t/"
  # 2 threads also with OMP_WAIT_POLICY=passive: a spinning OpenMP pool can double step times
  # on 2 shared cores. The report takes the faster of the two and says which.
  ((t == 2)) && gbench libtorch_passive "$build/bench/ltgen_bench_libtorch" "$t" "threads:$t/" OMP_WAIT_POLICY=passive
done
gbench handwritten "$build/bench/ltgen_bench" 1 "BM_handwritten|BM_fma_peak"

# --- Python peers ----------------------------------------------------------------------------
pyloop() {  # label python case threads [env...]
  local label="$1" py="$2" case="$3" t="$4"; shift 4
  [[ -x "$py" ]] && "$py" -c "import torch" 2> /dev/null || { log "$label: no torch in $py, skipped"; return 0; }
  log "$label $case threads=$t $*"
  env "$@" OMP_NUM_THREADS="$t" "$py" "$here/pytorch_loop.py" loop --case "$case" --threads "$t" \
    --repeats "$repeats" | sed "s/^{/{\"label\": \"$label\", /" >> "$raw"
}
for t in 1 2; do
  for c in linear mlp cnn gpt; do
    for py in pypi debian; do
      pyloop "pytorch_$py" "$(eval echo "\$${py}_py")" "$c" "$t"
      ((t == 2)) && pyloop "pytorch_$py" "$(eval echo "\$${py}_py")" "$c" "$t" OMP_WAIT_POLICY=passive
    done
  done
done

if ((do_lightning)) && "$pypi_py" -c "import lightning" 2> /dev/null; then
  for t in 1 2; do
    for c in linear mlp; do
      policy=(); ((t == 2)) && policy=(OMP_WAIT_POLICY=passive)
      epochs=10; [[ $c == mlp ]] && epochs=4  # 320 and 64 steps
      for ((r = 0; r < repeats; ++r)); do
        log "lightning $c threads=$t ($((r + 1))/$repeats)"
        rm -rf "$out/lightning-root"
        env "${policy[@]}" OMP_NUM_THREADS="$t" PYTHONWARNINGS=ignore "$pypi_py" "$here/pytorch_loop.py" lightning \
          --spec "$repo/specs/$c.json" --threads "$t" --max-epochs "$epochs" --root "$out/lightning-root" \
          2> "$out/lightning.err" | sed "s/^{/{\"label\": \"lightning\", /" >> "$raw"
      done
    done
  done
fi

# --- the generated programs, as run --------------------------------------------------------
now_ns() { date +%s%N; }
# Whole process, spec as written (specs/linear.json: 3 epochs, 96 steps, CSV log, checkpoint).
proc_times() {  # label runs workdir command...
  local label="$1" runs="$2" dir="$3"; shift 3
  local ts=()
  for ((r = 0; r < runs; ++r)); do
    rm -rf "$dir/lightning_logs"
    local s e
    s=$(now_ns); (cd "$dir" && "$@" > /dev/null 2>&1); e=$(now_ns)
    ts+=($(((e - s) / 1000)))
  done
  printf '{"label": "%s", "runs_us": [%s]}\n' "$label" "$(IFS=,; echo "${ts[*]}")" >> "$raw"
}
for t in 1 2; do
  export OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t
  log "programs threads=$t"
  proc_times "process_linear_$t" 31 "$work/linear" ./linear --trainer.enable_progress_bar=false
  proc_times "process_mlp_$t" 11 "$work/mlp" ./mlp --trainer.enable_progress_bar=false
  # Per step in the program's own loop (data loader, logging every 50 steps): the difference
  # between a long run and a short one, divided by the extra steps.
  proc_times "loop_linear_short_$t" "$repeats" "$work/linear" ./linear --trainer.enable_progress_bar=false \
    --trainer.enable_checkpointing=false --trainer.max_epochs=-1 --trainer.max_steps=1000
  proc_times "loop_linear_long_$t" "$repeats" "$work/linear" ./linear --trainer.enable_progress_bar=false \
    --trainer.enable_checkpointing=false --trainer.max_epochs=-1 --trainer.max_steps=201000
  proc_times "loop_mlp_short_$t" "$repeats" "$work/mlp" ./mlp --trainer.enable_progress_bar=false \
    --trainer.enable_checkpointing=false --trainer.max_epochs=-1 --trainer.max_steps=100
  proc_times "loop_mlp_long_$t" "$repeats" "$work/mlp" ./mlp --trainer.enable_progress_bar=false \
    --trainer.enable_checkpointing=false --trainer.max_epochs=-1 --trainer.max_steps=2100
done
unset OPENBLAS_NUM_THREADS OMP_NUM_THREADS
if command -v hyperfine > /dev/null; then
  log "hyperfine build/linear"
  (cd "$work/linear" && hyperfine -N --warmup 3 --runs 50 --prepare 'rm -rf lightning_logs' \
    --export-json "$out/hyperfine-linear.json" './linear --trainer.enable_progress_bar=false' > /dev/null 2>&1) ||
    log "hyperfine failed"
fi
# Lightning's whole process on specs/linear.json (import, Trainer, 96 steps, CSV log, checkpoint).
if ((do_lightning)) && "$pypi_py" -c "import lightning" 2> /dev/null; then
  log "lightning whole process"
  mkdir -p "$out/lightning-proc"
  proc_times process_lightning_linear "$repeats" "$out/lightning-proc" env OMP_NUM_THREADS=1 PYTHONWARNINGS=ignore \
    "$pypi_py" "$here/pytorch_loop.py" lightning --spec "$repo/specs/linear.json" --threads 1
fi

load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- versions and the report ------------------------------------------------------------------
{
  echo "load_before=$load_before"
  echo "load_after=$load_after"
  echo "env_note=$env_note"
  echo "cpu=$(lscpu | sed -n 's/^Model name: *//p') ($(nproc) CPUs, $(lscpu | sed -n 's/^Thread(s) per core: *//p') thread/core)"
  echo "os=$(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
  echo "compiler=$(c++ --version | head -1)"
  echo "cmake=$(cmake --version | head -1)"
  echo "openblas=$(dpkg-query -W -f='${Version}' libopenblas0-pthread 2> /dev/null || echo ?) (libblas.so.3 -> $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3))"
  echo "libbenchmark=$(dpkg-query -W -f='${Version}' libbenchmark-dev 2> /dev/null || echo ?)"
  echo "libtorch=$(dpkg-query -W -f='${Version}' libtorch-dev 2> /dev/null || echo ?)"
  echo "python3-torch=$(dpkg-query -W -f='${Version}' python3-torch 2> /dev/null || echo ?)"
  echo "hyperfine=$(hyperfine --version 2> /dev/null || echo none)"
  if git -C "$repo" rev-parse --short HEAD > /dev/null 2>&1; then
    echo "ltgen=$("$build/ltgen" --version 2> /dev/null) at $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- generator runtime bench || echo ' (+ uncommitted changes)')"
  else  # a source tree without .git (git archive): its commit in .commit, if any
    echo "ltgen=$("$build/ltgen" --version 2> /dev/null) at $(cat "$repo/.commit" 2> /dev/null || echo '?')"
  fi
  echo "openblas_core=$(env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 "$build/bench/ltgen_bench" --benchmark_filter=none 2>&1 | sed -n 's/^Core: //p' | head -1)"
} > "$out/machine.txt"
python3 "$here/report.py" "$out" > "$out/report.md"
log "wrote $out/report.md"
cat "$out/report.md"
