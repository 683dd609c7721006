#!/usr/bin/env python3
"""threads_agree_<spec>: a fit on 1 thread and on 3 threads gives the same numbers, bit for bit.

  threads_agree.py --ltgen PATH --work DIR [--max-steps N] SPEC.json

The step splits its GEMMs (ltrt/blas.hpp), its elementwise and per-row loops
(ltrt/parallel_for.hpp) and the optimizer's update among OPENBLAS_NUM_THREADS threads, so that
each element is computed as on one thread: sums across rows keep their order. The same program
fits N steps (validating on a few batches, if it has validation data) with OPENBLAS_NUM_THREADS=1
and =3; metrics.csv must
be the same text and the last checkpoint's tensors the same bytes. Both runs use OpenBLAS's AVX-512
kernels (Cooperlake, else SkylakeX), whose split GEMMs keep each element's bits (blas_split_*);
a CPU without AVX-512 skips the test (exit 77): its AVX2 kernels round split GEMMs differently.
"""
import argparse
import json
import os
import shutil
import struct
import sys

import common
from common import check


def read_checkpoint(path, root):
    """A safetensors file as {name: (dtype, shape, bytes)} and its metadata, with the run's root
    directory (which the callbacks' state names) written as ROOT and the checksum (of all of it)
    left out."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    metadata = {k: v.replace(root, "ROOT") for k, v in header.pop("__metadata__", {}).items() if k != "checksum"}
    tensors = {k: (v["dtype"], v["shape"], data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
               for k, v in header.items()}
    return tensors, metadata


def avx512_kernels():
    """The OpenBLAS kernel set with AVX-512 that this CPU runs, or None."""
    with open("/proc/cpuinfo") as f:
        flags = next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    return "Cooperlake" if "avx512_bf16" in flags else "SkylakeX" if "avx512f" in flags else None


def fit(program, root, threads, max_steps, validates, kernels):
    shutil.rmtree(root, ignore_errors=True)
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OPENBLAS_CORETYPE=kernels)
    env.pop("LTGEN_SPLIT_GRAIN", None)
    cmd = [program, "fit", f"--trainer.max_steps={max_steps}", "--trainer.log_every_n_steps=1",
           "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={root}"]
    if validates:
        cmd += [f"--trainer.val_check_interval={max(1, max_steps // 2)}", "--trainer.limit_val_batches=2"]
    print(f"$ OPENBLAS_NUM_THREADS={threads} OPENBLAS_CORETYPE={kernels} " + " ".join(cmd))
    proc = common.run_ending_all(cmd, 300, env=env)
    if proc.returncode != 0:
        print(proc.stdout)
        print(proc.stderr)
    check(proc.returncode == 0, f"{program} fit on {threads} thread(s) exited with {proc.returncode}")
    version = common.only_version_dir(root)
    with open(os.path.join(version, "metrics.csv")) as f:
        metrics = f.read()
    files = [name for name in common.checkpoint_files(version) if name.startswith("epoch=")]
    check(files, f"{version}/checkpoints holds no epoch=E-step=S checkpoint")
    return metrics, files[-1], read_checkpoint(os.path.join(version, "checkpoints", files[-1]), root)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ltgen", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--max-steps", type=int, default=6)
    p.add_argument("spec")
    args = p.parse_args()
    kernels = avx512_kernels()
    if kernels is None:
        print("SKIPPED: this CPU has no AVX-512, and OpenBLAS's AVX2 kernels round a split GEMM differently")
        sys.exit(77)
    shutil.rmtree(args.work, ignore_errors=True)
    program = common.generate(args.ltgen, args.spec, os.path.join(args.work, "gen"))
    with open(args.spec) as f:
        validates = "val" in json.load(f).get("data", {})
    one = fit(program, os.path.join(args.work, "threads_1"), 1, args.max_steps, validates, kernels)
    three = fit(program, os.path.join(args.work, "threads_3"), 3, args.max_steps, validates, kernels)
    rows = one[0].strip().splitlines()
    check(len(rows) > args.max_steps, f"metrics.csv has {len(rows)} lines for {args.max_steps} logged steps")
    for i, (a, b) in enumerate(zip(rows, three[0].strip().splitlines())):
        check(a == b, f"metrics.csv line {i + 1} differs:\n  1 thread:  {a}\n  3 threads: {b}")
    check(one[0] == three[0], "metrics.csv differs in its number of lines between 1 and 3 threads")
    check(one[1] == three[1], f"the last checkpoints differ in name: {one[1]} and {three[1]}")
    (tensors1, meta1), (tensors3, meta3) = one[2], three[2]
    check(sorted(tensors1) == sorted(tensors3), f"{one[1]} holds other tensors on 3 threads")
    differ = [k for k in sorted(tensors1) if tensors1[k] != tensors3[k]]
    check(not differ, f"{one[1]}: {len(differ)} tensor(s) differ between 1 and 3 threads: {', '.join(differ[:8])}")
    check(meta1 == meta3, f"{one[1]}'s metadata differs between 1 and 3 threads: "
          f"{[k for k in meta1 if meta1[k] != meta3.get(k)]}")
    print(f"{len(rows) - 1} metrics rows and the {len(tensors1)} tensors of {one[1]} equal on 1 and 3 threads")


if __name__ == "__main__":
    common.main(main)
