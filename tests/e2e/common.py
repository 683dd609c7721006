"""Helpers shared by the end-to-end tests: generate + build a spec with ltgen, run the
program, read what it wrote."""
import csv
import os
import shutil
import signal
import subprocess
import sys
import time


class Failure(Exception):
    """A check failed; the message says what and where."""


def check(cond, message):
    if not cond:
        raise Failure(message)


def build_env():
    env = dict(os.environ)
    # The machine is shared: one compiler at a time unless the caller says otherwise.
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", "1")
    return env


def generate(ltgen, spec, out_dir, cuda=False, env=None):
    """Runs `ltgen SPEC -o OUT_DIR` (generate and build); returns the program's path. These tests
    check the CPU program: an "auto" spec's CUDA side is built only with cuda=True (the
    cuda_build and gpu tests cover it)."""
    t0 = time.time()
    proc = subprocess.run([ltgen, spec, "-o", out_dir] + ([] if cuda else ["--no-cuda"]), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env or build_env())
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise Failure(f"ltgen {spec} -o {out_dir} exited with {proc.returncode}")
    lines = proc.stderr.strip().splitlines()
    check(lines and lines[-1].startswith("ltgen: built "),
          f"ltgen's stderr does not end with 'ltgen: built PATH':\n{proc.stderr}")
    program = lines[-1][len("ltgen: built "):].strip()
    check(os.path.isfile(program) and os.access(program, os.X_OK), f"ltgen said it built {program}, which is not an executable")
    print(f"built {program} in {time.time() - t0:.1f}s")
    return program


def processes(spec):
    """How many processes the spec's trainer asks for (DDP: devices x num_nodes, devices a count or
    a list of GPU indices)."""
    t = spec.get("trainer", {})
    devices = t.get("devices", 1)
    devices = len(devices) if isinstance(devices, list) else devices
    return (devices if isinstance(devices, int) and devices > 1 else 1) * t.get("num_nodes", 1)


def launcher(n):
    """The command prefix that starts n processes of a DDP program: MPI's mpirun (none for one)."""
    return [] if n <= 1 else ["mpirun", "-n", str(n)]


def run_ending_all(cmd, timeout, **kwargs):
    """subprocess.run(cmd, capture_output=True, text=True, timeout=timeout), except that a timeout
    ends every process the command started, not only the first: mpirun's ranks (MPICH puts each in
    a session of its own, so they outlive a killed mpirun; a SIGTERM to mpirun ends them) and
    Lightning's DDP workers (in the command's session, killed with it). Left running, they would
    slow every later test."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                          **kwargs) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:  # ranks that outlived it may still hold the pipes: do not wait for them
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def run_program(program, args, timeout=120, launch=(), env=None):
    """Runs the program (after `launch`, e.g. launcher(2); in `env`, else this process's
    environment); returns (returncode, stdout, stderr)."""
    cmd = list(launch) + [program] + list(args)
    print("$ " + " ".join(cmd))
    t0 = time.time()
    proc = run_ending_all(cmd, timeout, env=env)
    print(f"  exit {proc.returncode} in {time.time() - t0:.2f}s")
    return proc.returncode, proc.stdout, proc.stderr


def only_version_dir(root):
    logs = os.path.join(root, "lightning_logs")
    check(os.path.isdir(logs), f"{logs} was not created")
    versions = sorted(os.listdir(logs))
    check(versions == ["version_0"], f"{logs} holds {versions}, expected just version_0")
    return os.path.join(logs, "version_0")


def read_metrics(path):
    """metrics.csv -> list of (epoch, step, train_loss) rows, with the header checked."""
    check(os.path.isfile(path), f"{path} was not written")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    check(rows, f"{path} is empty")
    check(rows[0] == ["epoch", "step", "train_loss"], f"{path}: header is {rows[0]}, expected epoch,step,train_loss")
    out = []
    for i, r in enumerate(rows[1:], start=2):
        check(len(r) == 3, f"{path}:{i}: {len(r)} fields, expected 3: {r}")
        try:
            out.append((int(r[0]), int(r[1]), float(r[2])))
        except ValueError:
            raise Failure(f"{path}:{i}: not epoch,step,loss numbers: {r}")
    return out


def metric_cells(path):
    """metrics.csv -> [((epoch, step, column), value)] for every filled cell, in file order
    (with gradient accumulation Lightning logs several rows with one step)."""
    check(os.path.isfile(path), f"{path} was not written")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    cells = []
    for r in rows:
        for k in sorted(r):
            v = r[k]
            if k in ("epoch", "step") or v in ("", None):
                continue
            cells.append(((int(float(r["epoch"])) if r["epoch"] else None, int(r["step"]), k), float(v)))
    return cells


def checkpoint_metadata(path):
    """A safetensors file's __metadata__: its header's JSON, read without loading the tensors."""
    import json
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


def checkpoint_files(version_dir):
    d = os.path.join(version_dir, "checkpoints")
    check(os.path.isdir(d), f"{d} was not created")
    return sorted(os.listdir(d))


def fit_from(program, init_weights, x, y, root):
    """`fit` from the given initial weights and npy data, logging every step into a fresh root:
    (its lightning_logs/version_0, metrics.csv's (epoch, step, train_loss) rows)."""
    shutil.rmtree(root, ignore_errors=True)
    rc, out, err = run_program(program, [
        "fit", f"--init_weights={init_weights}", f"--data.train.x={x}", f"--data.train.y={y}",
        "--trainer.log_every_n_steps=1", "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={root}"])
    if rc != 0:
        print(out)
        print(err)
    check(rc == 0, f"{program} exited with {rc}")
    version = only_version_dir(root)
    return version, read_metrics(os.path.join(version, "metrics.csv"))


def check_step_losses(rows, ref, per_epoch, rtol):
    """metrics.csv's (epoch, step, train_loss) rows against a PyTorch loop's per-step losses: the same
    count, consecutive steps in the right epochs, every loss within `rtol` relative."""
    check(len(rows) == len(ref), f"metrics.csv has {len(rows)} rows, the PyTorch loop ran {len(ref)} steps")
    worst, worst_i = 0.0, 0
    bad = []
    for i, ((epoch, step, got), want) in enumerate(zip(rows, ref)):
        check(step == i and epoch == i // per_epoch,
              f"metrics.csv row {i + 2}: epoch {epoch} step {step}, expected epoch {i // per_epoch} step {i}")
        rel = abs(got - want) / max(abs(want), 1e-30)
        if rel > worst:
            worst, worst_i = rel, i
        if rel > rtol:
            bad.append(f"  step {i}: program {got!r}, torch {want!r}, relative difference {rel:.3g}")
    print(f"loss: {len(ref)} steps, first {ref[0]:.6g}, last {ref[-1]:.6g}; "
          f"worst relative difference {worst:.3g} at step {worst_i} "
          f"(program {rows[worst_i][2]!r}, torch {ref[worst_i]!r})")
    check(not bad, f"{len(bad)} step(s) differ by more than {rtol:g}:\n" + "\n".join(bad[:12]))


def ccache_launchers(*languages):
    """CMake's compiler launchers for ccache, as ltgen's own builds set them (none without ccache):
    a test's hand-made build then recompiles only what changed since the last run."""
    return [f"-DCMAKE_{lang}_COMPILER_LAUNCHER=ccache" for lang in languages] if shutil.which("ccache") else []


def cmake_build(source, build, what, configure_args=(), env=None):
    """Configures SOURCE into BUILD (Release, Ninja when there is one) and builds it; a failure
    prints CMake's output and names WHAT. Returns the configure step's output."""
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    logs = []
    for cmd in (["cmake", "-S", source, "-B", build, "-DCMAKE_BUILD_TYPE=Release"] + generator + list(configure_args),
                ["cmake", "--build", build, "-j", str(os.cpu_count() or 2)]):
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        if proc.returncode != 0:
            print(proc.stdout)
        check(proc.returncode == 0, f"{' '.join(cmd[:2])} of {what} exited with {proc.returncode}")
        logs.append(proc.stdout)
    return logs[0]


def main(fn):
    """Runs fn(); prints a Failure's message and exits 1."""
    try:
        fn()
    except Failure as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
    print("PASSED")


def lightning_case_main(doc, cases, build, run_case):
    """The command line of a script whose cases share one program and compare with Lightning:
    --list (the case names, one a line), --ltgen and --work with --build (build(args): the program,
    the fixture), or with --case and --lightning-python (run_case(args))."""
    import argparse
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--list", action="store_true")
    p.add_argument("--ltgen")
    p.add_argument("--lightning-python")
    p.add_argument("--work")
    p.add_argument("--build", action="store_true")
    p.add_argument("--case", choices=sorted(cases))
    args = p.parse_args()
    if args.list:
        print("\n".join(cases))
        return
    if not (args.ltgen and args.work and (args.build or (args.case and args.lightning_python))):
        p.error("give --list, or --ltgen and --work with --build, or with --case and --lightning-python")
    args.work = os.path.abspath(args.work)
    main(lambda: build(args) if args.build else run_case(args))


def lightning_json(lightning_python, work, name, source, arg, what):
    """Runs the Python SOURCE (written to WORK/NAME) with the Lightning venv's Python on ARG
    (sys.argv[1]) and returns the JSON it prints; WHAT names it in a failure."""
    import json
    script = os.path.join(work, name)
    with open(script, "w") as f:
        f.write(source)
    proc = subprocess.run([lightning_python, script, arg], capture_output=True, text=True, timeout=300)
    check(proc.returncode == 0, f"{what} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def spec_seed(spec):
    """The spec's seed_everything: an int, or {"seed": N, "workers": true}; 0 when left out or null."""
    seed = spec.get("seed_everything")
    if isinstance(seed, dict):
        seed = seed.get("seed")
    return 0 if seed is None else seed
