#!/usr/bin/env python3
"""ltrt::SpikeDetection against Lightning's own (lightning.fabric.utilities.spike.SpikeDetection,
which lightning.pytorch's callback calls with the batch's loss and batch_idx).

Each case of CASES feeds the same float32 losses at the same batch indices to both: after every
step the running mean (torchmetrics' Running(MeanMetric).compute()) and last_val must have the same
float32 bits, and both must stop at the same step with the same skip_batches.json. The cases reach
what an e2e run rarely does: NaN and infinite losses in and after warmup, finite_only false, warmup
0 (batch -1 to skip), both tolerances off, mode max, a loss exactly at the rtol bound, the window
wrapping around. Run with the Lightning venv's Python; exit status 1 on any difference.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import warnings

import torch
from lightning.fabric.utilities.spike import SpikeDetection, TrainingSpikeException

NAN, INF = "nan", "inf"


def steps(losses, start=0, per_epoch=None):
    """[[batch_idx, loss], ...]: batch indices from `start`, restarting at 0 every per_epoch steps."""
    out = []
    for i, loss in enumerate(losses):
        b = start + i if per_epoch is None else i % per_epoch
        out.append([b, loss])
    return out


CASES = [
    # A NaN in warmup (batch 0): MeanMetric drops it, last_val is NaN for the next comparison.
    ({}, steps([NAN, 1.0, 1.1, 1.05, 3.5, 9.0])),
    ({"window": 3, "warmup": 3}, steps([0.5, NAN, 0.7, 0.6, 0.65, 0.62, 0.61, 0.9, 2.5])),
    # finite_only: a NaN or inf after warmup is a spike; without it, neither is (and neither counts).
    ({"window": 4}, steps([1.0, 1.2, INF])),
    ({"window": 4, "finite_only": False}, steps([1.0, 1.2, NAN, 0.9, INF, 1.1, 1.0, 0.95, 30.0])),
    ({"window": 2, "finite_only": False, "atol": None, "rtol": None}, steps([1.0, 1.2, NAN, 0.5, 0.6])),
    # warmup 0: batch 0 can spike, its batch before is -1.
    ({"warmup": 0, "rtol": 0.5}, steps([2.0, 1.0, 3.0], per_epoch=2)),
    # The rtol bound itself: |3 - 1| >= 2 * 1.
    ({"window": 1}, steps([1.0, 3.0])),
    ({"window": 1}, steps([1.0, 2.9999998])),
    # mode max with atol alone: a drop of at least atol below the mean is a spike.
    ({"mode": "max", "window": 3, "atol": 0.25, "rtol": None}, steps([1.0, 1.1, 1.3, 1.2, 1.25, 0.9])),
    # a window wrapping around many times, epochs of 7 batches, values that round in float32
    ({"window": 5, "warmup": 2, "rtol": 4.0}, steps([0.1 * (1 + (i * 7919) % 13) for i in range(60)] + [40.0],
                                                       per_epoch=7)),
    # both tolerances off: any worse loss is a spike
    ({"atol": None, "rtol": None}, steps([1.0, 0.8, 0.81])),
]


class _Strategy:
    root_device = torch.device("cpu")

    def barrier(self):
        pass

    def reduce_boolean_decision(self, decision, all=True):
        return decision


class _Fabric:
    strategy = _Strategy()
    global_rank = 0


def bits(x):
    """float32 bits, every NaN as "nan" (its sign and payload are the arithmetic's, not the rules')."""
    x = float(x)
    return "nan" if x != x else struct.unpack("<I", struct.pack("<f", x))[0]


def lightning_steps(init_args, case_steps, root):
    args = dict(init_args)
    args["exclude_batches_path"] = root
    det = SpikeDetection(**args)
    fabric = _Fabric()
    out = []
    for batch_idx, loss in case_steps:
        value = torch.tensor(float(loss), dtype=torch.float32)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                det.on_train_batch_end(fabric, value, None, batch_idx)
        except TrainingSpikeException:
            with open(os.path.join(root, "skip_batches.json")) as f:
                out.append({"spike": batch_idx, "file": f.read()})
            break
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            running = det.running_mean.compute()
        out.append({"running": bits(running), "last": bits(det.last_val)})
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--driver", required=True)
    args = p.parse_args()
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        ours_root = os.path.join(tmp, "ltrt")
        cases = [{"init_args": a, "steps": s} for a, s in CASES]
        proc = subprocess.run([args.driver], input=json.dumps({"root": ours_root, "cases": cases}),
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            print(f"FAILED: the driver exited with {proc.returncode}:\n{proc.stderr}")
            return 1
        ours = json.loads(proc.stdout)
        for k, (init_args, case_steps) in enumerate(CASES):
            root = os.path.join(tmp, f"lightning_{k}")
            os.makedirs(root)
            theirs = lightning_steps(init_args, case_steps, root)
            mine = ours[k]
            if mine != theirs:
                failures += 1
                print(f"case {k} {init_args}: differs\n  ltrt      {mine}\n  Lightning {theirs}")
            else:
                end = f"a spike at batch {theirs[-1]['spike']}" if "spike" in theirs[-1] else "no spike"
                print(f"case {k} {init_args}: {len(theirs)} steps alike, {end}")
    print("FAILED" if failures else "PASSED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
