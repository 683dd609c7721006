"""cuda_build: the CUDA program of every example spec generates and builds with nvcc, so CUDA
code cannot rot on machines without a GPU (CI has nvcc and no GPU). One spec is also built with trainer.accelerator "gpu" (CUDA required), and both programs are run: without
a GPU, "auto" says so and trains on the CPU, and "gpu" refuses with a clear message; with one,
both say they train on it."""
import argparse
import glob
import json
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import common  # noqa: E402
from common import Failure, check  # noqa: E402

def build(ltgen, spec, out, emit_only=False, cuda_arch=None):
    """ltgen SPEC -o OUT with the CUDA side on (for `cuda_arch`, else ltgen's default list); returns
    (program, ltgen's stderr)."""
    t0 = time.time()
    proc = common.subprocess.run([ltgen, spec, "-o", out] + (["--emit-only"] if emit_only else []) +
                                 (["--cuda-arch", cuda_arch] if cuda_arch else []),
                                 stdout=common.subprocess.PIPE, stderr=common.subprocess.PIPE, text=True,
                                 env=common.build_env())
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise Failure(f"ltgen {spec} -o {out} exited with {proc.returncode}")
    if not emit_only:
        print(f"  built {os.path.basename(spec)} in {time.time() - t0:.1f}s")
    return os.path.join(out, json.load(open(spec))["name"]), proc.stderr


# The examples built with ltgen's default --cuda-arch list (linear's program also runs below; gpt's
# attention is on tensor cores).
DEFAULT_ARCH = ("linear", "gpt")


def cuda_objects(out):
    return [os.path.relpath(p, out) for p in glob.glob(os.path.join(out, "build", "**", "*.cu.o"), recursive=True)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ltgen", required=True)
    ap.add_argument("--specs", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    check(os.environ.get("CUDACXX"), "CUDACXX is not set: the test names the nvcc CMake found (tests/cuda/CMakeLists.txt)")
    os.makedirs(args.work, exist_ok=True)
    t0 = time.time()
    built = []
    for spec in sorted(glob.glob(os.path.join(args.specs, "*.json"))):
        name = os.path.splitext(os.path.basename(spec))[0]
        if name == "schema":
            continue
        if json.load(open(spec)).get("trainer", {}).get("accelerator") == "cpu":
            print(f"  {name}: trainer.accelerator \"cpu\", no CUDA program")  # e.g. DDP, which runs on the CPU
            continue
        out = os.path.join(args.work, name)
        # Each architecture compiles the same device code again (the default list's three: Ampere and
        # Hopper machine code and PTX), so most examples are built for sm_80 alone; DEFAULT_ARCH ones
        # with the default list, as a user gets it.
        _, log = build(args.ltgen, spec, out, cuda_arch=None if name in DEFAULT_ARCH else "80-real")
        check(os.path.isfile(os.path.join(out, "model_cuda.cu")), f"{name}: ltgen wrote no model_cuda.cu:\n{log}")
        objects = cuda_objects(out)
        check(any(o.endswith("model_cuda.cu.o") for o in objects),
              f"{name}: model_cuda.cu was not compiled (CUDA objects: {objects}); did CMake find nvcc?")
        check(any("cuda_backend.cu.o" in o for o in objects), f"{name}: the runtime's CUDA backend was not compiled")
        built.append(name)
    check(built, "no example spec has a CUDA program")
    print(f"CUDA programs: {', '.join(built)}")

    # trainer.accelerator "gpu": CUDA is required; and both programs run.
    gpu_spec = os.path.join(args.work, "linear_gpu.json")
    spec = json.load(open(os.path.join(args.specs, "linear.json")))
    spec["name"] = "linear_gpu"
    spec.pop("$schema", None)
    spec["data"]["train"]["num_samples"] = 64
    spec["trainer"] = {"accelerator": "gpu", "max_epochs": 1, "enable_progress_bar": False, "logger": False,
                       "enable_checkpointing": False}
    with open(gpu_spec, "w") as f:
        json.dump(spec, f)
    gpu_program, _ = build(args.ltgen, gpu_spec, os.path.join(args.work, "linear_gpu"))
    auto_program = os.path.join(args.work, "linear", "linear")
    root = os.path.join(args.work, "root")
    rc, out, err = common.run_program(auto_program, ["fit", "--trainer.max_epochs=1", "--trainer.enable_progress_bar=false",
                                                     f"--trainer.default_root_dir={root}"])
    check(rc == 0, f"{auto_program} exited with {rc}:\n{out}\n{err}")
    first = err.splitlines()[0] if err else ""
    check(first.startswith("GPU available: True (cuda), used: True: training on cuda:0 (") or
          first.startswith("GPU available: False ("),
          f"an \"auto\" program must say where it trains on its first line of stderr, got:\n{err}")
    rc, out, err = common.run_program(gpu_program, ["fit"])
    if first.startswith("GPU available: False"):
        check(rc == 1 and 'trainer.accelerator is "gpu" but no CUDA GPU is available: ' in err,
              f"without a GPU an accelerator \"gpu\" program must fail with exit 1 and say why; exit {rc}:\n{err}")
    else:
        check(rc == 0 and "used: True" in err, f"{gpu_program} exited with {rc}:\n{out}\n{err}")
    ddp_on_gpus(args, spec, first.startswith("GPU available: False"))
    bare_machine(args, root)
    print(f"cuda_build: {len(built)} CUDA programs, linear_gpu and linear_ddp_gpu built and checked in "
          f"{time.time() - t0:.0f}s")


def ddp_on_gpus(args, spec, no_gpu):
    """DDP on GPUs: the project links NCCL (the toolkit's, here) for the device-side gradient
    average and SyncBatchNorm's sums (a BatchNorm1d between two Linears, trainer.sync_batchnorm), and
    the ranks refuse together where there is no GPU (rank 0 says it once)."""
    ddp_spec = os.path.join(args.work, "linear_ddp_gpu.json")
    layers = [{"type": "Linear", "out_features": 8}, {"type": "BatchNorm1d"}] + spec["model"]["layers"]
    spec = dict(spec, name="linear_ddp_gpu", model=dict(spec["model"], layers=layers),
                trainer=dict(spec["trainer"], devices=2, sync_batchnorm=True))
    with open(ddp_spec, "w") as f:
        json.dump(spec, f)
    out = os.path.join(args.work, "linear_ddp_gpu")
    program, _ = build(args.ltgen, ddp_spec, out, cuda_arch="80-real")
    with open(os.path.join(out, "build", "CMakeCache.txt")) as f:
        nccl = re.search(r"^LTRT_NCCL_LIBRARY:FILEPATH=(.+)$", f.read(), re.M)
    check(nccl and os.path.isfile(nccl.group(1)),
          "linear_ddp_gpu's build found no NCCL (LTRT_NCCL_LIBRARY): this machine's CUDA toolkit has none beside it; "
          "install NVIDIA's libnccl-dev, or set NCCL_ROOT to an NCCL (e.g. pip's nvidia-nccl-cu13 package)")
    rc, out_text, err = common.run_program(program, ["fit"], launch=common.launcher(2))
    if no_gpu:
        said = 'error: trainer.accelerator is "gpu" but no CUDA GPU is available: '
        check(rc == 1 and err.count(said) == 1, f"without a GPU both ranks must refuse, said once by rank 0; exit {rc}:\n{err}")
    else:  # the device machine has one GPU: rank 1 finds no GPU 1 of its own
        check(rc == 0 or "under DDP each process trains on a GPU of its own" in err, f"exit {rc}:\n{err}")
    print(f"built linear_ddp_gpu with NCCL ({nccl.group(1)}); its two ranks {'refuse together' if no_gpu else 'ran'}")


def bare_machine(args, root):
    """A GPU machine may have the CUDA toolkit, CMake and a compiler and nothing else: the
    generated project builds there without BLAS (a portable sgemm) and without zlib, and its
    CPU steps train as the BLAS build does."""
    out = os.path.join(args.work, "linear")
    build_dir = os.path.join(out, "build-bare")
    # (a bare machine may lack ccache; here it saves compiling the whole runtime with nvcc again)
    log = common.cmake_build(out, build_dir, "linear without BLAS and zlib",
                             ["-DCMAKE_DISABLE_FIND_PACKAGE_BLAS=ON", "-DCMAKE_DISABLE_FIND_PACKAGE_ZLIB=ON"] +
                             common.ccache_launchers("CXX", "CUDA"), env=common.build_env())
    check("ltrt's portable sgemm" in log and "zlib not found" in log,
          f"the configure log does not say that BLAS and zlib are missing:\n{log}")
    losses = {}
    for name, program in (("blas", os.path.join(out, "linear")), ("bare", os.path.join(build_dir, "linear"))):
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
        shutil.rmtree(f"{root}_{name}", ignore_errors=True)
        proc = common.subprocess.run([program, "fit", "--trainer.max_steps=6", "--trainer.log_every_n_steps=1",
                                      "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
                                      f"--trainer.default_root_dir={root}_{name}"], stdout=common.subprocess.PIPE,
                                     stderr=common.subprocess.PIPE, text=True, env=env)
        check(proc.returncode == 0, f"{program} exited with {proc.returncode}:\n{proc.stderr}")
        rows = common.read_metrics(os.path.join(common.only_version_dir(f"{root}_{name}"), "metrics.csv"))
        losses[name] = [loss for _, _, loss in rows]
    check(len(losses["bare"]) == 6 and len(losses["blas"]) == 6, f"6 losses each expected: {losses}")
    for a, b in zip(losses["blas"], losses["bare"]):
        check(abs(a - b) <= 1e-5 * abs(a), f"the portable sgemm's losses {losses['bare']} differ from BLAS's {losses['blas']}")
    print("built linear without BLAS and zlib; its 6 losses match the BLAS build's within 1e-5")


if __name__ == "__main__":
    common.main(main)
