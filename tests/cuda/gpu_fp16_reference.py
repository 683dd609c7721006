"""A "16-mixed" program (float16 autocast and a GradScaler) on a real GPU against the CUDA
emulator's run of the same program, for the GPU kit (scripts/gpu_kit.sh). The emulator's run is
the one cuda_emulated_lightning_<case> checks against Lightning's own 16-mixed plugin; the kit
carries its data, initial weights, metrics.csv and final GradScaler state. gpu_parity.py cannot
serve: the program's CPU side runs bf16-mixed (Lightning's rule on a CPU).

  gpu_fp16_reference.py --cudart LIB --program-dir KIT_CASE --work DIR

Checked: the same logged cells, each within 1e-4 relative (the GPU's float32 sums run in another
order than the emulator's, which now and then moves a value to the neighbouring float16), the
same GradScaler state at the end (the same steps skipped), and for a case with hooks the HOOK
lines they print (reference_hooks.txt), each number within 1e-4. Without a GPU it exits 77 (CTest's
SKIP_RETURN_CODE) with the reason: never a pass."""
import argparse
import json
import os
import sys

import gpu_parity  # noqa: E402  (beside this file; it puts tests/e2e on sys.path)
import common  # noqa: E402
from common import check  # noqa: E402

RTOL = 1e-4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cudart", required=True)
    ap.add_argument("--program-dir", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    count, why = gpu_parity.gpu_count(args.cudart)
    if count == 0:
        print(f"SKIPPED: no GPU ({why})")
        sys.exit(gpu_parity.SKIP)
    kit = os.path.abspath(args.program_dir)
    with open(os.path.join(kit, "spec.json")) as f:
        name = json.load(f)["name"]
    program = gpu_parity.build_generated(kit, name, os.path.join(args.work, "program"))
    root = os.path.join(args.work, "run")
    data = [f"--data.{split}.{part}={os.path.join(kit, prefix + part + '.npy')}"
            for split, prefix in (("train", ""), ("val", "v")) for part in ("x", "y")]
    rc, out, err = common.run_program(program, ["fit", f"--init_weights={os.path.join(kit, 'init.safetensors')}",
                                              f"--trainer.default_root_dir={root}", *data], timeout=600)
    check(rc == 0, f"the program failed:\n{err}")
    check("Using 16bit Automatic Mixed Precision (AMP)" in err and "used: True" in err,
          f"the program did not train on the GPU in 16-mixed:\n{err}")
    version = os.path.join(root, "lightning_logs", "version_0")
    gpu = common.metric_cells(os.path.join(version, "metrics.csv"))
    want = common.metric_cells(os.path.join(kit, "reference_metrics.csv"))
    check([k for k, _ in gpu] == [k for k, _ in want],
          f"logged cells differ from the emulator's:\n GPU      {[k for k, _ in gpu][:8]}\n emulator {[k for k, _ in want][:8]}")
    worst = 0.0
    for (key, got), (_, value) in zip(gpu, want):
        rel = abs(got - value) / max(abs(value), 1e-6)
        worst = max(worst, rel)
        check(rel <= RTOL, f"{key}: GPU {got}, emulator {value}")
    (ckpt,) = [f for f in common.checkpoint_files(version) if f != "last.safetensors"]
    scaler = json.loads(common.checkpoint_metadata(os.path.join(version, "checkpoints", ckpt))["MixedPrecision"])
    with open(os.path.join(kit, "reference_scaler.json")) as f:
        reference = json.load(f)
    check(scaler == reference, f"GradScaler at the end: GPU {scaler}, emulator {reference}")
    print(f"{len(gpu)} logged values within {worst:.2e} of the emulator's; GradScaler {scaler}")
    hooks = os.path.join(kit, "reference_hooks.txt")
    if os.path.isfile(hooks):
        with open(hooks) as f:
            gpu_parity.compare_hook_lines(f.read(), out, names=("emulator", "GPU"))


if __name__ == "__main__":
    common.main(main)
