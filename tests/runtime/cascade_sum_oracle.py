#!/usr/bin/env python3
"""ltrt::torch_column_sums (ltrt/cascade_sum.hpp) against torch.sum(x, dim=0) itself, on one thread:
float32 (n,) and (n, columns) tensors of random sizes (both sides of each vector width and
cascade step: n from 1 to 32768, columns 1 to 70), values of a large mean and a small spread (where
the order shows most), bit for bit. Run with the Lightning venv's Python (PyPI's torch). torch on
several threads splits a single column of more than 32768 rows into chunks first: not emulated.
"""
import argparse
import json
import subprocess
import sys

import numpy as np
import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--driver", required=True)
    args = p.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(12)
    shapes = [(n, c) for n in (1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 65, 100, 255, 256, 257, 700)
              for c in (1, 2, 3, 4, 5, 7)]
    shapes += [(int(rng.integers(1, 300)), int(c)) for c in (8, 9, 15, 16, 17, 31, 32, 33, 40, 64, 70) for _ in range(3)]
    shapes += [(5000, 40), (3000, 33), (20000, 1), (32768, 1)]  # deeper cascade levels (one torch thread)
    xs = [(rng.standard_normal(shape) * 0.3 + 3.0).astype(np.float32) for shape in shapes]
    cases = [{"rows": x.shape[0], "columns": x.shape[1], "values": [float(v) for v in x.reshape(-1)]} for x in xs]
    proc = subprocess.run([args.driver], input=json.dumps({"cases": cases}), capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        print(f"FAILED: the driver exited with {proc.returncode}:\n{proc.stderr}")
        return 1
    ours = json.loads(proc.stdout)
    bad = 0
    for x, mine in zip(xs, ours):
        t = torch.from_numpy(x)
        want = (torch.sum(t, dim=0) if x.shape[1] > 1 else torch.sum(t.reshape(-1), dim=0).reshape(1)).numpy()
        want_bits = [int(b) for b in want.view(np.uint32)]
        if want_bits != mine:
            bad += 1
            print(f"shape {x.shape}: ltrt {np.array(mine, dtype=np.uint32).view(np.float32)[:4]}, "
                  f"torch {want[:4]}")
    print(f"{len(xs) - bad} of {len(xs)} shapes summed as torch.sum does, bit for bit")
    print("FAILED" if bad else "PASSED")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
