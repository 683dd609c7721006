#!/usr/bin/env bash
# Prepares the GPU checks for a machine that has a GPU, the CUDA toolkit, CMake and Python (with
# numpy and safetensors) but not ltgen's own build dependencies: every CUDA parity spec's program
# is generated here into gpu-kit/ (git-ignored), beside a runner. There, from the repository root:
#
#   bash gpu-kit/run.sh OUT_DIR     # builds each program with nvcc, runs gpu_parity.py on it (four
#                                   # at a time), writes OUT_DIR/parity/<case>.log and OUT_DIR/summary.txt
#                                   # (CASES="a b": only those cases; PARALLEL=N: N at a time)
#   python3 bench/gpu_bench.py --kit gpu-kit/bench --out OUT_DIR
#                                   # tokens/s against PyTorch eager and torch.compile
#
#   [CASES="a b"] scripts/gpu_kit.sh [BUILD_DIR]  # BUILD_DIR holds a built ltgen (default: build)
#
# gpu-kit/ is git-ignored: a run through the device tool must name it in `carry`.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
ltgen="$build/ltgen"
[[ -x "$ltgen" ]] || { echo "gpu_kit.sh: $ltgen is not built (scripts/test.sh builds it)" >&2; exit 2; }
rm -rf gpu-kit
mkdir -p gpu-kit
# CASES="a b": only those cases (the device tool carries at most 64 MiB; every case is about 1.4 MB
# and the benchmark's programs 25 MB).
wanted() { [[ -z "${CASES:-}" || " $CASES " == *" $1 "* ]]; }
for spec in tests/cuda/parity_specs/*.json; do
  stem="$(basename "$spec" .json)"
  wanted "$stem" || continue
  "$ltgen" "$spec" -o "gpu-kit/$stem" --emit-only > /dev/null
  [[ -f "gpu-kit/$stem/model_cuda.cu" ]] || { echo "gpu_kit.sh: $spec has no CUDA program" >&2; exit 1; }
  cp "$spec" "gpu-kit/$stem/spec.json"
  # The specs' data (a text corpus): gpu_parity.py reads its size beside spec.json.
  find tests/cuda/parity_specs -maxdepth 1 -type f ! -name '*.json' -exec cp {} "gpu-kit/$stem/" \;
done
# 16-mixed (float16 and a GradScaler): each tests/cuda/lightning_specs case's program, with the
# data, initial weights, metrics.csv and final GradScaler state of the CUDA emulator's run of it
# (cuda_emulated_lightning_<case>, which checks that run against Lightning's own 16-mixed):
# tests/cuda/gpu_fp16_reference.py compares the GPU's run with them.
for spec in tests/cuda/lightning_specs/*.json; do
  stem="$(basename "$spec" .json)"
  wanted "$stem" || continue
  # DDP on GPUs needs a GPU a process; the device machine has one.
  [[ "$stem" == ddp_gpu_* ]] && continue
  work="$build/tests/cuda/work/cuda_emulated_lightning_$stem"
  version="$work/ltgen/lightning_logs/version_0"
  if [[ ! -f "$work/passed" ]]; then  # lightning_parity.py writes it when the whole test passed
    echo "gpu_kit.sh: $stem left out: no passing cuda_emulated_lightning_$stem run in $work (run that test first)" >&2
    continue
  fi
  "$ltgen" "$spec" -o "gpu-kit/$stem" --emit-only > /dev/null
  # (the same CUDA code: the header's first lines name the spec's path and the command)
  if ! cmp -s <(tail -n +4 "$work/program/model_cuda.cu") <(tail -n +4 "gpu-kit/$stem/model_cuda.cu"); then
    echo "gpu_kit.sh: $stem left out: its emulated run is of an older program (run cuda_emulated_lightning_$stem again)" >&2
    rm -rf "gpu-kit/$stem"
    continue
  fi
  cp "$spec" "gpu-kit/$stem/spec.json"
  cp "$work/init.safetensors" "gpu-kit/$stem/"
  for npy in "$work"/*.npy; do [[ -f "$npy" ]] && cp "$npy" "gpu-kit/$stem/"; done
  cp "$version/metrics.csv" "gpu-kit/$stem/reference_metrics.csv"
  # (a case with hooks: the HOOK lines its hooks printed, which matched Lightning's)
  [[ -f "$work/hook_lines.txt" ]] && cp "$work/hook_lines.txt" "gpu-kit/$stem/reference_hooks.txt"
  "${PYTHON:-/opt/ltgen/venv/bin/python}" - "$version/checkpoints" "gpu-kit/$stem/reference_scaler.json" <<'SCALER'
import json, os, struct, sys
names = [f for f in os.listdir(sys.argv[1]) if f != "last.safetensors"]
if len(names) != 1:
    sys.exit(f"gpu_kit.sh: {sys.argv[1]} holds {names}, not one checkpoint to take the GradScaler state from")
name = names[0]
with open(os.path.join(sys.argv[1], name), "rb") as f:
    header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
json.dump(json.loads(header["__metadata__"]["MixedPrecision"]), open(sys.argv[2], "w"))
SCALER
done

# The speed benchmark's programs (bench/gpu_bench.py): gpt2_small on random tokens, gpt_char_bench
# on the Jargon File (decompressed: the GPU machine may lack zlib).
mkdir -p gpu-kit/bench
"${PYTHON:-/opt/ltgen/venv/bin/python}" - <<'TOKENS'
import numpy as np
rng = np.random.default_rng(0)
# 1024 samples, 128 steps an epoch: the benchmark's timed fits (bench/gpu_bench.py, a few seconds
# each) stay in one epoch, so each saves one checkpoint, at its end, and the two saves cancel out.
tokens = rng.integers(0, 50304, size=(1024, 1025), dtype=np.int64)
np.save("gpu-kit/bench/gpt2_tokens_x.npy", tokens[:, :-1])
np.save("gpu-kit/bench/gpt2_tokens_y.npy", tokens[:, 1:])
TOKENS
cp bench/specs/gpt2_small.json gpu-kit/bench/
gunzip -c /usr/share/doc/jargon-text/jargon.txt.gz > gpu-kit/bench/jargon.txt
sed 's|"path": "[^"]*jargon.txt.gz"|"path": "jargon.txt"|' bench/specs/gpt_char_bench.json > gpu-kit/bench/gpt_char_bench.json
# Each also with "float32_matmul_precision": "high" (TF32 GEMMs), as <name>_tf32, and under
# trainer.precision "bf16-mixed", as <name>_bf16.
for name in gpt2_small gpt_char_bench; do
  "${PYTHON:-/opt/ltgen/venv/bin/python}" -c 'import json, sys; s = json.load(open(sys.argv[1]))
s["float32_matmul_precision"] = "high"; json.dump(s, open(sys.argv[2], "w"), indent=1)
s.pop("float32_matmul_precision"); s.setdefault("trainer", {})["precision"] = "bf16-mixed"
json.dump(s, open(sys.argv[3], "w"), indent=1)' \
    "gpu-kit/bench/$name.json" "gpu-kit/bench/${name}_tf32.json" "gpu-kit/bench/${name}_bf16.json"
done
for name in gpt2_small gpt_char_bench gpt2_small_tf32 gpt_char_bench_tf32 gpt2_small_bf16 gpt_char_bench_bf16; do
  "$ltgen" "gpu-kit/bench/$name.json" -o "gpu-kit/bench/$name" --emit-only > /dev/null
  [[ -f "gpu-kit/bench/$name/model_cuda.cu" ]] || { echo "gpu_kit.sh: $name has no CUDA program" >&2; exit 1; }
done

cat > gpu-kit/run.sh <<'RUN'
#!/usr/bin/env bash
# Written by scripts/gpu_kit.sh: the gpu parity checks of every program beside this file, four
# at a time (each builds its program with nvcc, then runs it; device time is short).
set -uo pipefail
out="${1:?usage: bash gpu-kit/run.sh OUT_DIR}"
mkdir -p "$out/parity"
out="$(cd "$out" && pwd)"
kit="$(cd "$(dirname "$0")" && pwd)"
cudart="$(find /usr/local/cuda*/ /usr/lib /opt -name 'libcudart.so*' 2>/dev/null | sort | head -1)"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; nvcc --version | tail -2; } \
  > "$out/machine.txt" 2>&1
: > "$out/summary.txt"
check_one() {
  local dir="$1" stem start rc
  stem="$(basename "$dir")"
  start=$(date +%s)
  # A case that hangs is stopped alone, so the others still report.
  # 16-mixed cases (reference_metrics.csv beside them) against the emulator's run, the others
  # against the program's CPU side.
  if [[ -f "$dir/reference_metrics.csv" ]]; then
    PYTHONUNBUFFERED=1 timeout -k 5 "${CASE_TIMEOUT_S:-240}" "${PYTHON:-python3}" tests/cuda/gpu_fp16_reference.py \
      --cudart "$cudart" --program-dir "$dir" --work "/tmp/gpu-kit-work/$stem" > "$out/parity/$stem.log" 2>&1
  else
    PYTHONUNBUFFERED=1 timeout -k 5 "${CASE_TIMEOUT_S:-240}" "${PYTHON:-python3}" tests/cuda/gpu_parity.py --cudart "$cudart" --program-dir "$dir" \
      --work "/tmp/gpu-kit-work/$stem" "$dir/spec.json" > "$out/parity/$stem.log" 2>&1
  fi
  rc=$?
  echo "$stem: exit $rc in $(( $(date +%s) - start ))s" | tee -a "$out/summary.txt"
}
export -f check_one
export out cudart
rm -rf /tmp/gpu-kit-work
# CASES="a b": only those; PARALLEL: how many at once (default 4).
for dir in "$kit"/*/; do
  [[ -f "$dir/spec.json" ]] || continue  # bench/ is gpu_bench.py's
  [[ -z "${CASES:-}" || " $CASES " == *" $(basename "$dir") "* ]] && echo "$dir"
done | xargs -P "${PARALLEL:-4}" -I{} bash -c 'check_one "$1"' _ {}
RUN
chmod +x gpu-kit/run.sh scripts/gpu_kit.sh
echo "gpu_kit.sh: $(ls gpu-kit/*/spec.json | wc -l) parity programs ($(ls gpu-kit/*/reference_metrics.csv 2>/dev/null | wc -l) of them 16-mixed) and 6 benchmark programs in gpu-kit/ ($(du -sh gpu-kit | cut -f1)); run 'bash gpu-kit/run.sh OUT' on the GPU machine"
