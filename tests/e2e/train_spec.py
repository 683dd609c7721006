#!/usr/bin/env python3
"""train_<spec>: generate and build one spec with ltgen, train it, check what it writes.

  train_spec.py --ltgen PATH --work DIR SPEC.json

Checks: exit status 0; metrics.csv has one row per optimizer step (log_every_n_steps=1) with
consecutive steps and the right epochs, as many as the spec implies (num_samples, batch_size,
drop_last, max_epochs / max_steps); the last checkpoint is epoch=E-step=S.safetensors; the
loss falls (mean of the last few steps below the mean of the first few).
"""
import argparse
import csv
import json
import math
import os
import shutil

import common
from common import check, Failure


def count_samples(spec, spec_path):
    train = spec["data"]["train"]
    source = train["source"]
    base = os.path.dirname(os.path.abspath(spec_path))
    if source == "randn":
        return train["num_samples"]
    if source == "npy":
        import numpy as np
        x = np.load(os.path.join(base, train["x"]), mmap_mode="r")
        return x.shape[0]
    if source == "csv":
        with open(os.path.join(base, train["path"]), newline="") as f:
            rows = [r for r in csv.reader(f) if r]
        return len(rows) - (1 if train.get("header", True) else 0)
    raise Failure(f"train_spec.py does not know how to count the samples of a '{source}' source")


def expected_steps(spec, spec_path):
    """(total optimizer steps, batches per epoch) as Lightning would run the spec."""
    trainer = spec.get("trainer", {})
    for key in ("accumulate_grad_batches", "limit_train_batches", "fast_dev_run", "max_time"):
        if key in trainer and trainer[key] not in (None, 1, 1.0, False):
            raise Failure(f"train_spec.py does not know how trainer.{key}={trainer[key]} changes the step count")
    n = count_samples(spec, spec_path)
    data = spec["data"]
    b = data["batch_size"]
    per_epoch = n // b if data.get("drop_last", False) else math.ceil(n / b)
    max_epochs = trainer.get("max_epochs", -1)
    max_steps = trainer.get("max_steps", -1)
    if max_epochs in (None, -1) and max_steps in (None, -1):
        max_epochs = 1000  # Lightning's default
    total = math.inf if max_epochs in (None, -1) else max_epochs * per_epoch
    if max_steps not in (None, -1):
        total = min(total, max_steps)
    check(total != math.inf, "the spec trains forever")
    return int(total), per_epoch


def run(args):
    with open(args.spec) as f:
        spec = json.load(f)
    name = spec["name"]
    total, per_epoch = expected_steps(spec, args.spec)
    print(f"{args.spec}: expect {total} steps, {per_epoch} per epoch")
    check(total >= 2, f"{args.spec} runs {total} step(s): too few to see the loss fall")

    os.makedirs(args.work, exist_ok=True)
    program = common.generate(args.ltgen, args.spec, os.path.join(args.work, name))
    root = os.path.join(args.work, "root")
    shutil.rmtree(root, ignore_errors=True)
    rc, out, err = common.run_program(program, ["fit", "--trainer.log_every_n_steps=1",
                                                "--trainer.enable_progress_bar=false",
                                                f"--trainer.default_root_dir={root}"], timeout=args.timeout)
    if rc != 0:
        print(out)
        print(err)
    check(rc == 0, f"{program} exited with {rc}")
    if err.strip():
        print(f"stderr of a successful run:\n{err}")

    version = common.only_version_dir(root)
    rows = common.read_metrics(os.path.join(version, "metrics.csv"))
    check(len(rows) == total, f"metrics.csv has {len(rows)} rows, expected {total} (one per step)")
    for i, (epoch, step, loss) in enumerate(rows):
        check(step == i, f"metrics.csv row {i + 2}: step {step}, expected {i}")
        check(epoch == i // per_epoch, f"metrics.csv row {i + 2}: epoch {epoch}, expected {i // per_epoch}")
        check(math.isfinite(loss), f"metrics.csv row {i + 2}: loss {loss} is not finite")
    check(os.path.isfile(os.path.join(version, "hparams.yaml")), f"{version}/hparams.yaml was not written")

    last_epoch = (total - 1) // per_epoch
    want = f"epoch={last_epoch}-step={total}.safetensors"
    files = [f for f in common.checkpoint_files(version) if f != "last.safetensors"]
    check(files == [want], f"checkpoints/ holds {files}, expected [{want!r}]")
    check(f"Checkpoint: {os.path.join(version, 'checkpoints', want)}" in out,
          f"stdout does not name the checkpoint:\n{out}")

    k = max(1, min(5, total // 4))
    losses = [r[2] for r in rows]
    first = sum(losses[:k]) / k
    last = sum(losses[-k:]) / k
    print(f"loss: mean of first {k} steps {first:.6g}, of last {k} {last:.6g} ({total} steps)")
    check(last < first, f"the loss did not fall: mean of the first {k} steps {first:.6g}, of the last {k} {last:.6g}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ltgen", required=True)
    p.add_argument("--work", required=True, help="folder for the generated project and the run")
    p.add_argument("--timeout", type=float, default=240, help="seconds the training run may take")
    p.add_argument("spec")
    args = p.parse_args()
    common.main(lambda: run(args))
