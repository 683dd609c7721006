"""gpu_parity_<case> (label gpu): the CUDA program of a spec against its CPU program, from the
same seed (same initial weights, same data). One "auto" binary runs both: on the GPU, and on
the CPU with CUDA_VISIBLE_DEVICES="" (it then finds no GPU). Checked:
  - every op's forward: per-step train_loss (and val_loss, the metrics) within 1e-4 relative;
  - every op's backward: after one step from the same weights (an --init_weights file), each
    parameter differs by at most 1e-4 of the step's largest update (SGD: lr * gradient);
  - checkpoints: a GPU checkpoint resumes on the CPU and a CPU one on the GPU, and the steps
    after the resume match an uninterrupted run;
  - predict (specs with data.predict): predictions.npy from the same weights, within 1e-4 of
    the largest prediction; with a prompt source (top_k 1), the same generated text.
Without a GPU it exits 77 (CTest's SKIP_RETURN_CODE) with the reason: never a pass.
With --emulator (the cuda_emulated tests) the "GPU" is the CUDA emulator (emulator/): the
program's CUDA steps are built for it and run on the CPU, and every check above applies. The
emulated GPU also validates, predicts and trains one epoch a second time in the emulator's
reverse schedule (blocks, and threads between barriers, in reverse order), and must give the
same bits: every metric of every step, the checkpoint's parameters and optimizer state, the
predictions. ltgen's kernels promise the same result in any order (no atomics, fixed-order
reductions): a difference is a race.
Dropout's masks are counter-based on the GPU and torch's on the CPU; every run here sets
LTGEN_DROPOUT_MASKS=counter, which makes the CPU draw the GPU's, so training with dropout is
compared too.
bf16-mixed specs round the same tensors on both devices; the one-step check and the predictions
allow two bfloat16 steps (STEP_RTOL below), where a differently ordered float32 sum crossed a
rounding."""
import argparse
import csv
import ctypes
import json
import math
import os
import re
import shutil
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import common  # noqa: E402
from common import Failure, check  # noqa: E402

SKIP = 77
RTOL = 1e-4
# One step's updates and predictions, as a fraction of the largest.
STEP_RTOL = 1e-4
# bf16-mixed: both devices round the same tensors to bfloat16, but a float32 sum taken in another
# order (a GPU's reductions) lands on the other side of a rounding now and then, a step of 2^-8 of
# that element. From random weights (the one-step check) that happens in the backward's chain, so
# updates and predictions are compared within two such steps; losses keep RTOL.
BF16_STEP_RTOL = 2.0 ** -7
# float32_matmul_precision "high" or "medium": the GPU's GEMMs round their inputs to TF32's 10
# mantissa bits (a relative 2^-11, 4.9e-4, each), the CPU's do not, so the losses, metrics and one
# step's updates of the two runs agree to about that, not to float32's 1e-4. (Under Adam a gradient
# element near zero can change sign, and its first update with it, from lr to -lr: tf32_mlp trains
# with SGD, whose updates follow the gradients.)
TF32_RTOL = 1e-3
# What the GPU run's device line must also say: "TF32 matmuls" for a spec whose
# float32_matmul_precision lets cuBLASLt use TF32 (set by main from the spec).
GPU_ALSO_SAYS = None
# Without a validation loop ModelCheckpoint saves when training stops (with one, after validation).
NO_VALIDATION = "--trainer.limit_val_batches=0"
# The emulator's schedule that the emulated runs are repeated under (emulator/README.md); the
# emulator names it on stderr, so a run that did not get it is caught.
REVERSE = "reverse"


def gpu_count(cudart):
    """cudaGetDeviceCount through the toolkit's libcudart: (count, reason when 0)."""
    try:
        lib = ctypes.CDLL(cudart)
    except OSError as e:
        raise Failure(f"cannot load {cudart}: {e}")
    count = ctypes.c_int(0)
    status = lib.cudaGetDeviceCount(ctypes.byref(count))
    if status != 0:
        lib.cudaGetErrorString.restype = ctypes.c_char_p
        return 0, f"cudaGetDeviceCount: {lib.cudaGetErrorString(status).decode()}"
    return count.value, "" if count.value else "cudaGetDeviceCount found no device"


def run(program, args, device, expect_rc=0, schedule=None, env=None):
    """Runs the program on the device; on the emulated GPU, with the emulator's `schedule` (and
    the emulator's variables in `env`)."""
    env = dict(os.environ, **(env or {}))
    env["LTGEN_DROPOUT_MASKS"] = "counter"  # the CPU draws the GPU's dropout masks, not torch's
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    if schedule:
        env["LTGEN_CUDA_EMULATOR_ORDER"] = schedule
    cmd = [program] + args
    print(f"$ [{device}{', ' + schedule if schedule else ''}] " + " ".join(cmd))
    proc = common.subprocess.run(cmd, stdout=common.subprocess.PIPE, stderr=common.subprocess.PIPE, text=True,
                                 env=env, timeout=600)
    if proc.returncode != expect_rc:
        print(proc.stdout)
        print(proc.stderr)
    check(proc.returncode == expect_rc, f"{program} exited with {proc.returncode} on the {device}")
    used = "used: True" if device == "gpu" else "used: False"
    check(used in proc.stderr, f"the {device} run does not say '{used}':\n{proc.stderr}")
    if device == "gpu" and GPU_ALSO_SAYS:
        check(GPU_ALSO_SAYS in proc.stderr, f"the gpu run does not say '{GPU_ALSO_SAYS}':\n{proc.stderr}")
    if schedule:
        said = f"ltgen CUDA emulator: schedule {schedule}"
        check(said in proc.stderr, f"the emulator does not say '{said}':\n{proc.stderr}")
    if env.get("LTGEN_CUDA_EMULATOR_MMA"):
        said = f"ltgen CUDA emulator: tensor-core sum {env['LTGEN_CUDA_EMULATOR_MMA']}"
        check(said in proc.stderr, f"the emulator does not say '{said}':\n{proc.stderr}")
    return proc.stdout


def metrics(root):
    version = common.only_version_dir(root)
    with open(os.path.join(version, "metrics.csv"), newline="") as f:
        return list(csv.DictReader(f)), version


def compare_series(what, cpu, gpu):
    check(len(cpu) == len(gpu), f"{what}: {len(cpu)} values on the CPU, {len(gpu)} on the GPU")
    worst = 0.0
    for i, (a, b) in enumerate(zip(cpu, gpu)):
        if math.isnan(a) and math.isnan(b):  # a value both give as NaN (a correlation of one row)
            continue
        rel = abs(a - b) / max(abs(a), 1e-12)
        worst = max(worst, rel)
        check(rel <= RTOL, f"{what}[{i}]: CPU {a!r}, GPU {b!r}, relative difference {rel:.3g} > {RTOL:g}")
    print(f"{what}: {len(cpu)} values, worst relative difference {worst:.3g}")


def compare_hook_lines(cpu, gpu, names=("CPU", "GPU")):
    """A spec's hooks print HOOK lines (tests/cuda/parity_specs/hooks_*.cpp): the same lines on
    both devices (or `names`' two runs), in the same order, their numbers (loss, sums over the
    weights and gradients that the hooks read) within RTOL; an infinity or NaN must be one on
    both sides."""
    first, second = names
    lines = {device: [line.split() for line in out.splitlines() if line.startswith("HOOK ")]
             for device, out in (("cpu", cpu), ("gpu", gpu))}
    check(lines["cpu"], "the spec has hooks, but they printed no HOOK line")
    check(len(lines["cpu"]) == len(lines["gpu"]),
          f"hooks: {len(lines['cpu'])} HOOK lines from {first}, {len(lines['gpu'])} from {second}")
    worst = 0.0
    for i, (c, g) in enumerate(zip(lines["cpu"], lines["gpu"])):
        where = f"HOOK line {i + 1}: {first} {' '.join(c)!r}, {second} {' '.join(g)!r}"
        check(len(c) == len(g), where)
        for a, b in zip(c, g):
            key, _, value = a.partition("=")
            if key in ("step", "batch") or not value:
                check(a == b, where)
                continue
            check(b.startswith(key + "="), where)
            x, y = float(value), float(b.partition("=")[2])
            if not (math.isfinite(x) and math.isfinite(y)):
                check(x == y or (math.isnan(x) and math.isnan(y)), f"{where}: {key} differs")
                continue
            rel = abs(x - y) / max(abs(x), 1e-12)
            worst = max(worst, rel)
            check(rel <= RTOL, f"{where}: {key} differs by {rel:.3g} relative, more than {RTOL:g}")
    print(f"hooks: {len(lines['cpu'])} HOOK lines alike from {first} and {second}, worst relative difference {worst:.3g}")


def column(rows, key):
    return [(int(r["step"]), float(r[key])) for r in rows if r.get(key)]


def checkpoint(stdout):
    for line in stdout.splitlines():
        if line.startswith("Checkpoint: "):
            return line[len("Checkpoint: "):].strip()
    raise Failure(f"the program printed no 'Checkpoint: PATH' line:\n{stdout}")


def weights(path):
    return {k[len("state_dict."):]: v for k, v in load_file(path).items() if k.startswith("state_dict.")}


def same_bits(what, forward, reverse):
    """Arrays from the forward and the reverse schedule: equal bit for bit."""
    check(forward.shape == reverse.shape and forward.dtype == reverse.dtype,
          f"{what}: {forward.dtype}{list(forward.shape)} forward, {reverse.dtype}{list(reverse.shape)} in reverse")
    if forward.tobytes() != reverse.tobytes():
        a, b = forward.astype(np.float64), reverse.astype(np.float64)
        differ = int(np.count_nonzero(a != b))
        raise Failure(f"{what}: {differ} of {forward.size} values differ between the emulator's forward and reverse "
                      f"schedules (largest difference {float(np.nanmax(np.abs(a - b))):.3g}): a race in a CUDA kernel")


def same_in_reverse(program, argv, root, stdout=None):
    """ARGV (`validate`, or `fit` printing STDOUT, with its options) ran on the emulated GPU,
    logging under ROOT; run again in the reverse schedule, it must write the same metrics.csv
    (every value with all its digits) and, for fit, a checkpoint with the same tensors."""
    again = f"{root}_{REVERSE}"
    stdout_again = run(program, argv + [f"--trainer.default_root_dir={again}"], "gpu", schedule=REVERSE)
    rows, _ = metrics(root)
    rows_again, _ = metrics(again)
    what = argv[0]
    check(len(rows) == len(rows_again), f"{what}: {len(rows)} metrics rows forward, {len(rows_again)} in reverse")
    for forward, reverse in zip(rows, rows_again):
        check(forward == reverse, f"{what}: metrics differ between the emulator's forward and reverse schedules (a "
                                  f"race in a CUDA kernel):\n  forward {forward}\n  reverse {reverse}")
    saved = load_file(checkpoint(stdout)) if what == "fit" else {}
    if saved:
        saved_again = load_file(checkpoint(stdout_again))
        check(sorted(saved) == sorted(saved_again),
              f"checkpoint: tensors {sorted(saved)} forward, {sorted(saved_again)} in reverse")
        for name in sorted(saved):
            same_bits(f"checkpoint {name}", saved[name], saved_again[name])
    print(f"{what} in the reverse schedule: the same {len(rows)} metrics rows and {len(saved)} checkpoint tensors")


def compare_step(w0, cpu, gpu, how=""):
    """One step from the weights W0 on both devices: each parameter's GPU update within STEP_RTOL
    of the step's largest update on the CPU."""
    for name in sorted(w0):
        update = np.abs(cpu[name] - w0[name]).max()
        diff = np.abs(gpu[name] - cpu[name]).max()
        print(f"{name}: largest update {update:.3g}, largest CPU/GPU{how} difference {diff:.3g}")
        check(diff <= STEP_RTOL * update + 1e-7, f"{name}: the GPU's step{how} differs from the CPU's by {diff:.3g}, "
                                                 f"more than {STEP_RTOL:g} of the largest update {update:.3g}")


def uses_tensor_cores(program_dir):
    """Whether the program's kernels use ltrt/cuda/mma.cuh's tensor-core mmas (any of them)."""
    with open(os.path.join(program_dir, "model_cuda.cu")) as f:
        return re.search(r"ltrt::cuda::mma_\w+\(", f.read()) is not None


def shared_memory_asks(program_dir):
    """(bytes, kernel) of each allow_shared_memory call in the program's prepare_kernels()."""
    with open(os.path.join(program_dir, "model_cuda.cu")) as f:
        return [(int(b), k) for k, b in re.findall(r'allow_shared_memory\((\w+), (\d+), "\1"\)', f.read())]


def refused(program, root, env, want, what):
    """Fit on an emulated GPU that `env` makes one the program cannot run on: it must exit with 1
    before it trains, saying `want` in one line (which it returns)."""
    proc = common.subprocess.run([program, "fit", "--trainer.enable_progress_bar=false",
                                  f"--trainer.default_root_dir={root}"], stdout=common.subprocess.PIPE,
                                 stderr=common.subprocess.PIPE, text=True, env=dict(os.environ, **env), timeout=600)
    check(proc.returncode == 1 and want in proc.stderr and len(proc.stderr.strip().splitlines()) == 1,
          f"on {what}, the program must exit with 1 and say '{want}' in one line; it exited with "
          f"{proc.returncode}:\n{proc.stderr}")
    print(f"{what}: refused in one line")
    return proc.stderr.strip()


def refuses_gpus_too_small(program, work, batch_size):
    """An emulated GPU with less memory than the run's one allocation (LTGEN_CUDA_EMULATOR_DEVICE_MEMORY):
    refused before anything is allocated, with what takes the memory; with room for some of the
    batch, the batch size that would fit (about as many samples as the room holds)."""
    mib = 1 << 20
    line = refused(program, f"{work}/small_memory", {"LTGEN_CUDA_EMULATOR_DEVICE_MEMORY": str(16 * mib)},
                   "cuda:0 (ltgen CUDA emulator on the CPU) has 16.00 MiB free of 16.00 MiB, and this program needs ",
                   "a GPU with too little memory for cuBLASLt's workspace")
    check("not even a batch of 1 fits" in line, f"16 MiB: {line}")
    size = r"([\d.]+ [KMG]iB)"
    sizes = re.search(f"needs {size} there: {size} for the parameters.*, {size} for the activations and batches of "
                      f"data.batch_size {batch_size}, and {size} of workspace", line)
    check(sizes is not None, f"the sizes in: {line}")

    def to_bytes(text):
        number, unit = text.split()
        return float(number) * {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[unit]

    needed, flat, per_batch, other = (to_bytes(sizes[i]) for i in range(1, 5))
    check(abs(flat + per_batch + other - needed) <= 0.2 * mib, f"the sizes in: {line}")
    # The sizes are rounded to 0.1 KiB or 0.01 MiB (up to 5 KiB here): room for half the batch is
    # within the batch's room when that is well above it, and about half the batch when it is far above it.
    if batch_size < 4 or per_batch < 40 * 1024:
        return
    limit = needed - per_batch / 2
    line = refused(program, f"{work}/half_memory", {"LTGEN_CUDA_EMULATOR_DEVICE_MEMORY": str(int(limit))},
                   "generate it with a smaller data.batch_size (at most about ", "a GPU with room for half the batch")
    fits = int(re.search(r"at most about (\d+) fits", line)[1])
    check(1 <= fits < batch_size, f"half the batch's room: about {fits} fits, of {batch_size}")
    if per_batch >= 200 * 1024:
        check(abs(fits - batch_size / 2) <= max(1, batch_size / 10), f"half the batch's room: about {fits} fits, of {batch_size}")


def refuses_gpus_it_cannot_run(program, work):
    """The emulated GPU pretending to be one that none of the program's compiled architectures
    runs on (LTGEN_CUDA_EMULATOR_NO_KERNEL_IMAGE), and one with less opt-in shared memory than the
    program's largest kernel asks for (LTGEN_CUDA_EMULATOR_SHARED_OPTIN): each refused before it
    trains, in one message that names what is missing and the fix."""
    refused(program, f"{work}/unrunnable_gpu", {"LTGEN_CUDA_EMULATOR_NO_KERNEL_IMAGE": "1"},
            "has compute capability 9.0, and this program's CUDA code, built for the architectures (not recorded), "
            "has nothing it can run (cudaErrorNoKernelImageForDevice): generate it with ltgen --cuda-arch 90-real",
            "a GPU that the compiled architectures do not cover")
    asks = shared_memory_asks(os.path.join(work, "program"))
    if asks:
        bytes_, kernel = max(asks)
        limit = bytes_ - 16
        refused(program, f"{work}/small_gpu", {"LTGEN_CUDA_EMULATOR_SHARED_OPTIN": str(limit)},
                f"kernel {kernel} needs {bytes_} bytes of shared memory per block, and cuda:0 (ltgen CUDA emulator "
                f"on the CPU, compute capability 9.0) allows a block {limit}",
                f"a GPU with less shared memory than {kernel} needs")


def build_emulated(args, name, out, build_dir="emulated_build", ltgen_args=()):
    """ltgen --emit-only, then the program built for the CUDA emulator (emulator/program)."""
    sh = common.subprocess.run
    proc = sh([args.ltgen, args.spec, "-o", out, "--emit-only", *ltgen_args], stdout=common.subprocess.PIPE,
              stderr=common.subprocess.PIPE, text=True)
    check(proc.returncode == 0, f"ltgen --emit-only exited with {proc.returncode}:\n{proc.stderr}")
    build = os.path.join(args.work, build_dir)
    common.cmake_build(os.path.join(args.source, "tests", "cuda", "emulator", "program"), build,
                       f"{name} for the CUDA emulator",
                       [f"-DPROGRAM_DIR={os.path.abspath(out)}", f"-DPROGRAM_NAME={name}",
                        f"-DEMULATOR_LIBRARY={args.emulator}", f"-DLTGEN_SOURCE_DIR={args.source}",
                        f"-DPYTHON={sys.executable}"] + common.ccache_launchers("CXX"))
    print(f"built {name} for the CUDA emulator")
    return os.path.join(build, name)


def turing_tiles(args, name, common_args):
    """A program whose kernels ask for more shared memory than sm_75 (Turing) allows a block,
    generated again with --cuda-arch 75-real: its tiles fit 64 KB, it runs on an emulated GPU
    with that limit, and its training losses are the CPU program's."""
    turing = 64 * 1024  # an sm_75 block's most shared memory
    asks = shared_memory_asks(os.path.join(args.work, "program"))
    if not asks or max(asks)[0] <= turing:
        return
    program = build_emulated(args, name, os.path.join(args.work, "program_sm75"), "emulated_build_sm75",
                             ["--cuda-arch", "75-real"])
    asks = shared_memory_asks(os.path.join(args.work, "program_sm75"))
    check(asks and max(asks)[0] <= turing, f"--cuda-arch 75-real: prepare_kernels asks for {asks}")
    trained = {}
    for device in ("cpu", "gpu"):
        stdout = run(program, ["fit", "--trainer.max_steps=3", NO_VALIDATION,
                               f"--trainer.default_root_dir={args.work}/sm75_{device}"] + common_args, device,
                     env={"LTGEN_CUDA_EMULATOR_SHARED_OPTIN": str(turing)})
        trained[device] = weights(checkpoint(stdout))
    # The backward's tiles, through the weights after three steps (the logged losses keep too few digits).
    for name in sorted(trained["cpu"]):
        scale = float(np.abs(trained["cpu"][name]).max())
        diff = float(np.abs(trained["gpu"][name] - trained["cpu"][name]).max())
        check(diff <= RTOL * scale + 1e-7, f"--cuda-arch 75-real: {name} after 3 steps differs from the CPU's by "
                                          f"{diff:.3g} (largest weight {scale:.3g})")
    cpu_rows, _ = metrics(f"{args.work}/sm75_cpu")
    gpu_rows, _ = metrics(f"{args.work}/sm75_gpu")
    compare_series("--cuda-arch 75-real on a GPU with 64 KB of shared memory a block: train_loss",
                   [v for _, v in column(cpu_rows, "train_loss")], [v for _, v in column(gpu_rows, "train_loss")])


def build_generated(source, name, out):
    """A generated project copied to OUT and built there, as a user builds one by hand."""
    shutil.copytree(source, out)
    build = os.path.join(out, "build")
    common.cmake_build(out, build, name)
    print(f"built {name} from {source}")
    return os.path.join(build, name)


def train_samples(spec_path, train):
    """The training set's size: randn's num_samples, an npy file's rows, or a text corpus's
    windows (the runtime's load_text: its range of the bytes, (bytes - 1) // block_size)."""
    if train["source"] == "randn":
        return train["num_samples"]
    x = train["x"] if train["source"] == "npy" else train["path"]
    if isinstance(x, dict):  # a file per input: the first input's
        x = next(iter(x.values()))
    path = os.path.join(os.path.dirname(os.path.abspath(spec_path)), x)
    if train["source"] == "npy":
        return np.load(path, mmap_mode="r").shape[0]
    check(train["source"] == "text" and not path.endswith(".gz"), f"{spec_path}: parity specs use randn, npy or plain text")
    with open(path, "rb") as f:
        size = len(f.read())
    begin, end = train.get("range", [0.0, 1.0])
    used = int(size * end) - int(size * begin)
    return (used - 1) // train["block_size"] if used > train["block_size"] else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ltgen", help="ltgen, to generate the spec's program")
    ap.add_argument("--program-dir", help="the spec's program, generated elsewhere (a GPU machine without ltgen: "
                                          "scripts/gpu_kit.sh); built here with CMake and nvcc")
    ap.add_argument("--cudart", help="the toolkit's libcudart, to ask for GPUs")
    ap.add_argument("--emulator", help="libltgen_cuda_emulator.a: run the CUDA steps on the CUDA emulator")
    ap.add_argument("--source", help="the ltgen source tree (with --emulator)")
    ap.add_argument("--work", required=True)
    ap.add_argument("spec")
    args = ap.parse_args()
    check(bool(args.ltgen) != bool(args.program_dir), "give one of --ltgen and --program-dir")
    check(not (args.emulator and args.program_dir), "--emulator generates with --ltgen")
    if args.emulator:
        check(args.source, "--emulator needs --source")
    else:
        check(args.cudart, "--cudart or --emulator is required")
        count, why = gpu_count(args.cudart)
        if count == 0:
            print(f"SKIP: no CUDA GPU ({why}): the CUDA program cannot run here")
            sys.exit(SKIP)

    spec = json.load(open(args.spec))
    global GPU_ALSO_SAYS, STEP_RTOL, RTOL
    if spec.get("float32_matmul_precision", "highest") != "highest":
        GPU_ALSO_SAYS = "TF32 matmuls"
        RTOL = STEP_RTOL = TF32_RTOL
        print(f"TF32 matmuls on the GPU: losses, metrics and one step's updates within {RTOL:g} of the CPU's")
    if spec.get("trainer", {}).get("precision", "32-true") in ("bf16-mixed", "bf16"):
        STEP_RTOL = BF16_STEP_RTOL
        print(f"bf16-mixed: one step's updates and predictions within {STEP_RTOL:g}")
    check(spec.get("trainer", {}).get("accelerator", "auto") == "auto", f"{args.spec}: parity specs leave accelerator \"auto\"")
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    if args.emulator:
        program = build_emulated(args, spec["name"], os.path.join(args.work, "program"))
        refuses_gpus_it_cannot_run(program, args.work)
        refuses_gpus_too_small(program, args.work, spec["data"]["batch_size"])
    elif args.program_dir:
        program = build_generated(args.program_dir, spec["name"], os.path.join(args.work, "program"))
    else:
        program = common.generate(args.ltgen, args.spec, os.path.join(args.work, "program"), cuda=True)
    check(os.path.isfile(os.path.join(args.work, "program", "model_cuda.cu")), "ltgen wrote no model_cuda.cu")
    steps = int(spec["trainer"].get("max_steps", 8))
    common_args = ["--trainer.log_every_n_steps=1", "--trainer.enable_progress_bar=false",
                   "--trainer.enable_model_summary=false"]
    if args.emulator:
        turing_tiles(args, spec["name"], common_args)

    # Forward (eval mode): validate from the same initial weights.
    if "val" in spec["data"]:
        for device in ("cpu", "gpu"):
            run(program, ["validate", f"--trainer.default_root_dir={args.work}/validate_{device}"] + common_args, device)
        if args.emulator:
            same_in_reverse(program, ["validate"] + common_args, f"{args.work}/validate_gpu")
        cpu_rows, _ = metrics(f"{args.work}/validate_cpu")
        gpu_rows, _ = metrics(f"{args.work}/validate_gpu")
        for key in [k for k in (cpu_rows[0] if cpu_rows else {}) if k.startswith("val_")]:  # loss, acc, mae, ...
            compare_series(f"validate {key}", [float(r[key]) for r in cpu_rows], [float(r[key]) for r in gpu_rows])
    # Predict (eval mode) from the same initial weights: predictions.npy on both devices.
    if "predict" in spec["data"] and spec["data"]["predict"].get("source") != "prompt":
        got = {}
        for device in ("cpu", "gpu"):
            path = f"{args.work}/predict_{device}.npy"
            run(program, ["predict", f"--predictions_path={path}",
                          f"--trainer.default_root_dir={args.work}/predict_{device}"] + common_args, device)
            got[device] = np.load(path)
        check(got["cpu"].shape == got["gpu"].shape, f"predict: shapes {got['cpu'].shape} and {got['gpu'].shape}")
        scale = float(np.abs(got["cpu"]).max())
        diff = float(np.abs(got["cpu"] - got["gpu"]).max())
        print(f"predict: {got['cpu'].shape[0]} rows, largest difference {diff:.3g} (largest prediction {scale:.3g})")
        check(diff <= STEP_RTOL * scale + 1e-7, f"predict: the GPU's predictions differ from the CPU's by {diff:.3g}")
        if args.emulator:
            path = f"{args.work}/predict_gpu_{REVERSE}.npy"
            run(program, ["predict", f"--predictions_path={path}",
                          f"--trainer.default_root_dir={args.work}/predict_gpu_{REVERSE}"] + common_args, "gpu",
                schedule=REVERSE)
            same_bits("predict", got["gpu"], np.load(path))
            print("predict in the reverse schedule: the same predictions")
    # One epoch of training without validation: the first half of the resume checks below, and
    # what the emulated GPU trains again in the reverse schedule.
    data = spec["data"]
    batches = train_samples(args.spec, data["train"]) / data["batch_size"]
    batches = int(batches) if data.get("drop_last", False) else math.ceil(batches)
    half = math.ceil(batches / spec["trainer"].get("accumulate_grad_batches", 1))  # optimizer steps per epoch
    one_epoch = ["fit", f"--trainer.max_steps={min(half, steps)}", NO_VALIDATION] + common_args
    # Per-step losses of training.
    out = {}
    for device in ("cpu", "gpu"):
        root = f"{args.work}/fit_{device}"
        out[device] = run(program, ["fit", f"--trainer.max_steps={steps}", f"--trainer.default_root_dir={root}"] +
                          common_args, device)
    cpu_rows, _ = metrics(f"{args.work}/fit_cpu")
    gpu_rows, _ = metrics(f"{args.work}/fit_gpu")
    if "hooks" in spec:
        compare_hook_lines(out["cpu"], out["gpu"])
    for key in [k for k in (cpu_rows[0] if cpu_rows else {}) if k.startswith(("train_", "val_"))]:
        c, g = column(cpu_rows, key), column(gpu_rows, key)
        check([s for s, _ in c] == [s for s, _ in g], f"{key}: logged at steps {c} on the CPU, {g} on the GPU")
        if c:
            compare_series(f"fit {key}", [v for _, v in c], [v for _, v in g])
    check(column(cpu_rows, "train_loss") or column(cpu_rows, "train_loss_step"), "no train_loss was logged")
    # The optimizer's state after the fit (slots that training never reads back, as ASGD's average ax,
    # show a kernel's mistakes only here), each within STEP_RTOL of the largest value of its kind (a
    # bias before a BatchNorm has a gradient of rounding noise, whose own scale means nothing).
    slots = {device: {k: v for k, v in load_file(checkpoint(out[device])).items() if k.startswith("optimizer.")}
             for device in ("cpu", "gpu")}
    check(sorted(slots["cpu"]) == sorted(slots["gpu"]), f"optimizer slots {sorted(slots['cpu'])} on the CPU, "
                                                        f"{sorted(slots['gpu'])} on the GPU")
    if RTOL == TF32_RTOL:  # TF32's rounded GEMM inputs move every gradient by about 1e-3, and a slot's sum of them more
        print("fit: optimizer slots not compared (TF32 GEMMs on the GPU only)")
        slots = {"cpu": {}, "gpu": {}}
    kind = lambda name: name.rsplit(".", 1)[1]  # optimizer.<parameter>.<torch's state key>
    scales = {}
    for name, v in slots["cpu"].items():
        scales[kind(name)] = max(scales.get(kind(name), 0.0), float(np.abs(v).max()))
    for name in sorted(slots["cpu"]):
        scale = scales[kind(name)]
        diff = float(np.abs(slots["gpu"][name] - slots["cpu"][name]).max())
        check(diff <= STEP_RTOL * scale + 1e-7, f"fit: {name} differs from the CPU's by {diff:.3g} (the largest "
                                                f"{kind(name)} is {scale:.3g})")
    if slots["cpu"]:
        print(f"fit: the {len(slots['cpu'])} optimizer slots agree within {STEP_RTOL:g} of their kind's largest")

    # Text generation from a prompt, greedy (top_k 1), with the CPU's trained weights: the same
    # text on both devices.
    if spec["data"].get("predict", {}).get("source") == "prompt":
        check(spec["data"]["predict"].get("top_k") == 1, f"{args.spec}: a parity prompt samples greedily (top_k 1)")
        text = {}
        for device in ("cpu", "gpu"):
            path = f"{args.work}/generated_{device}.txt"
            run(program, ["predict", f"--predictions_path={path}", f"--ckpt_path={checkpoint(out['cpu'])}",
                          f"--trainer.default_root_dir={args.work}/predict_{device}"] + common_args, device)
            text[device] = open(path, encoding="latin-1").read()
        if STEP_RTOL == BF16_STEP_RTOL and not args.emulator:
            # bf16-mixed rounds the logits to bfloat16, where the two likeliest tokens often tie or
            # lie a step apart: a GPU's differently ordered sums may pick the other one, and the
            # text goes its own way from there. The emulator's sums are the CPU's: there, equal.
            same = next((i for i, (a, b) in enumerate(zip(text["cpu"], text["gpu"])) if a != b),
                        min(len(text["cpu"]), len(text["gpu"])))
            check(len(text["cpu"]) == len(text["gpu"]), f"predict: the GPU generated {text['gpu']!r}, the CPU {text['cpu']!r}")
            print(f"predict (bf16-mixed): the first {same} of {len(text['gpu'])} characters alike: "
                  f"GPU {text['gpu']!r}, CPU {text['cpu']!r}")
        else:
            check(text["cpu"] == text["gpu"], f"predict: the GPU generated {text['gpu']!r}, the CPU {text['cpu']!r}")
            print(f"predict: both devices generated {text['gpu']!r}")
    # Backward: one step from the same weights; each parameter's update on both devices.
    w_any = weights(checkpoint(out["cpu"]))
    rng = np.random.default_rng(7)
    # Random floats (parameters and running statistics); integer buffers (BatchNorm's
    # num_batches_tracked) keep the values that fit left.
    w0 = {k: rng.uniform(-0.5, 0.5, v.shape).astype(np.float32) if v.dtype.kind == "f" else v
          for k, v in w_any.items()}
    init = f"{args.work}/w0.safetensors"
    save_file(w0, init)
    w1 = {}
    for device in ("cpu", "gpu"):
        stdout = run(program, ["fit", "--trainer.max_steps=1", f"--init_weights={init}", NO_VALIDATION,
                               f"--trainer.default_root_dir={args.work}/step_{device}"] + common_args, device)
        w1[device] = weights(checkpoint(stdout))
    compare_step(w0, w1["cpu"], w1["gpu"])
    if args.emulator and uses_tensor_cores(os.path.join(args.work, "program")):
        # Tensor cores were measured to truncate their sums (the emulator's "truncate"), which
        # rounding to nearest hides: the tensor-core kernels must be as accurate under it.
        stdout = run(program, ["fit", "--trainer.max_steps=1", f"--init_weights={init}", NO_VALIDATION,
                               f"--trainer.default_root_dir={args.work}/step_gpu_truncate"] + common_args, "gpu",
                     env={"LTGEN_CUDA_EMULATOR_MMA": "truncate"})
        compare_step(w0, w1["cpu"], weights(checkpoint(stdout)), " (tensor cores truncating)")

    # Checkpoints cross over: resume on the other device after the first epoch (a checkpoint
    # at an epoch's end resumes exactly; one where max_steps stopped an epoch starts the next).
    check(0 < half < steps, f"{args.spec}: max_steps ({steps}) must be more than one epoch's steps ({half})")
    whole_runs = {"cpu": cpu_rows, "gpu": gpu_rows}
    resumed_args = []
    if data.get("shuffle", False):
        # Each validation's DataLoader iterator draws from torch's global generator, as in Lightning,
        # and so moves the next epoch's shuffle: the resumed runs, and the uninterrupted ones they
        # are compared with, skip validation as the first halves do.
        resumed_args = [NO_VALIDATION]
        for device in ("cpu", "gpu"):
            root = f"{args.work}/fit_{device}_no_validation"
            run(program, ["fit", f"--trainer.max_steps={steps}", NO_VALIDATION,
                          f"--trainer.default_root_dir={root}"] + common_args, device)
            whole_runs[device], _ = metrics(root)
    for first, second in (("gpu", "cpu"), ("cpu", "gpu")):
        root = f"{args.work}/resume_{first}_{second}"
        stdout = run(program, one_epoch + [f"--trainer.default_root_dir={root}/a"], first)
        if args.emulator and first == "gpu":
            same_in_reverse(program, one_epoch, f"{root}/a", stdout)
        run(program, ["fit", f"--trainer.max_steps={steps}", f"--ckpt_path={checkpoint(stdout)}",
                      f"--trainer.default_root_dir={root}/b"] + resumed_args + common_args, second)
        resumed, _ = metrics(f"{root}/b")
        whole = whole_runs[second]
        want = [v for s, v in column(whole, "train_loss") if s >= half]
        got = [v for _, v in column(resumed, "train_loss")]
        compare_series(f"resumed on the {second} from a {first} checkpoint: train_loss", want, got)


if __name__ == "__main__":
    common.main(main)
