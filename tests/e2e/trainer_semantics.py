#!/usr/bin/env python3
"""trainer_<case>: the Trainer's arguments, callbacks, schedulers and resume, end to end.

  trainer_semantics.py --list                              "case spec" pairs, one a line
  trainer_semantics.py --ltgen PATH --work DIR --build SPEC build one spec's program (a fixture)
  trainer_semantics.py --ltgen PATH --work DIR --case NAME  run one case

Every case runs a program generated from one of the specs in SPECS (a small classifier on npy
data written here) and checks what Lightning's rules give for the configuration, worked out by
hand in the case: the optimizer steps, where val_loss rows fall (step = _batches_that_stepped,
epoch), how many train_loss rows, which checkpoint files exist; values (val_loss, predictions,
final weights under clipping or accumulation) against a plain torch computation from the same
weights and data; learning-rate sequences against torch.optim.lr_scheduler for 30+ steps; resume
equivalence bit for bit; damaged checkpoints refused. Each case is built so that it fails when
the argument or callback it is about is ignored.

The expectations are computed here, not taken from Lightning (which CI does not have); they
were confirmed once against Lightning 2.6 running the equivalent LightningModule.
"""
import argparse
import csv
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import time

import numpy as np

import common
from common import check, Failure

FEATURES, CLASSES, HIDDEN, BATCH = 6, 3, 16, 8
N_TRAIN, N_VAL, N_TEST, N_PREDICT = 256, 40, 24, 20   # 32 train batches, 5 val, 3 test, 3 predict (8, 8, 4)
N_RESUME = 100                                         # the resume spec: 13 batches, the last of 4
LR = 0.05


# ---------------------------------------------------------------------------------------------
# Specs (each built once, by its fixture) and their data.

def base_spec(name, **over):
    spec = {
        "name": name,
        "seed_everything": 7,
        "model": {
            "inputs": {"x": [FEATURES]},
            "target": {"dtype": "int64", "num_classes": CLASSES},
            "layers": [{"type": "Linear", "out_features": HIDDEN}, {"type": "ReLU"},
                       {"type": "Linear", "out_features": CLASSES}],
            "loss": {"type": "CrossEntropyLoss"},
            "metrics": ["accuracy"],
        },
        "data": {"batch_size": BATCH, "shuffle": False},
        "optimizer": {"type": "SGD", "lr": LR, "momentum": 0.9},
        "trainer": {"max_epochs": 3, "enable_progress_bar": False},
    }
    for k, v in over.items():
        if k == "trainer":
            spec["trainer"].update(v)
        else:
            spec[k] = v
    return spec


def cb(class_path, **init_args):
    return {"class_path": class_path, "init_args": init_args} if init_args else {"class_path": class_path}


SCHEDULERS = {
    # name: (lr_scheduler section, optimizer)
    "StepLR": ({"type": "StepLR", "step_size": 7, "gamma": 0.5}, "SGD"),
    "MultiStepLR": ({"type": "MultiStepLR", "milestones": [5, 12, 30], "gamma": 0.3}, "SGD"),
    "ExponentialLR": ({"type": "ExponentialLR", "gamma": 0.93}, "SGD"),
    "CosineAnnealingLR": ({"type": "CosineAnnealingLR", "T_max": 15, "eta_min": 0.001}, "SGD"),
    "LinearLR": ({"type": "LinearLR", "start_factor": 0.25, "total_iters": 10}, "SGD"),
    "ConstantLR": ({"type": "ConstantLR", "factor": 0.5, "total_iters": 8}, "SGD"),
    "PolynomialLR": ({"type": "PolynomialLR", "total_iters": 30, "power": 2.0}, "SGD"),
    "CyclicLR": ({"type": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 6, "step_size_down": 4,
                  "mode": "exp_range", "gamma": 0.98}, "SGD"),
    "ChainedScheduler": ({"type": "ChainedScheduler",
                          "schedulers": [{"type": "ConstantLR", "factor": 0.5, "total_iters": 10},
                                         {"type": "ExponentialLR", "gamma": 0.95}]}, "SGD"),
    "OneCycleLR": ({"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 40, "cycle_momentum": False}, "Adam"),
    "CosineAnnealingWarmRestarts": ({"type": "CosineAnnealingWarmRestarts", "T_0": 5, "T_mult": 2,
                                     "eta_min": 0.001}, "SGD"),
    "SequentialLR": ({"type": "SequentialLR",
                      "schedulers": [{"type": "LinearLR", "start_factor": 0.1, "total_iters": 6},
                                     {"type": "ExponentialLR", "gamma": 0.9}],
                      "milestones": [6]}, "SGD"),
    "ReduceLROnPlateau": ({"type": "ReduceLROnPlateau", "mode": "max", "factor": 0.5, "patience": 1,
                           "monitor": "val_loss"}, "SGD"),
}
SCHED_STEPS = 40


def sched_spec(kind):
    section, opt = SCHEDULERS[kind]
    section = dict(section, interval="step", frequency=1)
    optimizer = {"type": "SGD", "lr": LR, "momentum": 0.9} if opt == "SGD" else {"type": "Adam", "lr": 0.01}
    trainer = {"max_epochs": -1, "max_steps": SCHED_STEPS, "log_every_n_steps": 1,
               "enable_checkpointing": False, "callbacks": [cb("LearningRateMonitor")]}
    if kind == "ReduceLROnPlateau":
        # Validation after every batch (on one batch) so that the plateau scheduler steps on a fresh val_loss.
        trainer.update(val_check_interval=1, limit_val_batches=1, num_sanity_val_steps=0)
    return base_spec("lr_" + kind.lower(), optimizer=optimizer, lr_scheduler=section, trainer=trainer)


SPECS = {
    "base": lambda: base_spec("tr_base"),
    "es": lambda: base_spec("tr_es", trainer={"max_epochs": 20, "callbacks": [
        cb("EarlyStopping", monitor="val_loss", patience=2, min_delta=10.0)]}),
    # (A smaller lr than the others': val_loss falls every epoch, so `last` is the finished run's.)
    "topk": lambda: base_spec("tr_topk", optimizer={"type": "SGD", "lr": 0.01, "momentum": 0.9},
                              trainer={"max_epochs": 4, "callbacks": [
        cb("ModelCheckpoint", monitor="val_loss", save_top_k=2, filename="{epoch}-{val_loss:.2f}", save_last=True)]}),
    # Five ModelCheckpoints with their own folders (relative: under the run's working directory);
    # each differs from the others in a state-key field (monitor, mode, every_n_*), as Lightning requires.
    "mcs": lambda: base_spec("tr_mcs", trainer={"max_epochs": 5, "callbacks": [
        cb("ModelCheckpoint", dirpath="ck_all", save_top_k=-1),
        cb("ModelCheckpoint", dirpath="ck_last", save_top_k=0, save_last=True, mode="max"),
        cb("ModelCheckpoint", dirpath="ck_steps", every_n_train_steps=10, save_top_k=-1),
        cb("ModelCheckpoint", dirpath="ck_epochs", every_n_epochs=2, save_top_k=-1),
        cb("ModelCheckpoint", dirpath="ck_weights", monitor="val_loss", mode="max", save_weights_only=True)]}),
    # Resume: shuffle, Dropout, Adam, a step scheduler, EarlyStopping and two ModelCheckpoints (one per
    # epoch, one every 7 steps: mid-epoch files).
    "resume": lambda: {
        "name": "tr_resume",
        "seed_everything": 11,
        "model": {
            "inputs": {"x": [FEATURES]},
            "target": {"dtype": "int64", "num_classes": CLASSES},
            "layers": [{"type": "Linear", "out_features": HIDDEN}, {"type": "ReLU"}, {"type": "Dropout", "p": 0.25},
                       {"type": "Linear", "out_features": CLASSES}],
            "loss": {"type": "CrossEntropyLoss"},
        },
        "data": {"batch_size": BATCH, "shuffle": True},
        "optimizer": {"type": "Adam", "lr": 0.01},
        "lr_scheduler": {"type": "StepLR", "step_size": 5, "gamma": 0.8, "interval": "step"},
        "trainer": {"max_epochs": 4, "enable_progress_bar": False, "log_every_n_steps": 1, "callbacks": [
            cb("EarlyStopping", monitor="val_loss", patience=100),
            cb("ModelCheckpoint"),
            cb("ModelCheckpoint", every_n_train_steps=7, save_top_k=-1)]},
    },
}
# Wide enough that its first Linear calls OpenBLAS's sgemm (ltgen's loops take the small ones).
SPECS["wide"] = lambda: dict(base_spec("tr_wide"), model=dict(base_spec("tr_wide")["model"], layers=[
    {"type": "Linear", "out_features": 2048}, {"type": "ReLU"}, {"type": "Linear", "out_features": CLASSES}]))
for _k in SCHEDULERS:
    SPECS["lr_" + _k] = (lambda k: (lambda: sched_spec(k)))(_k)


def make_data(work, n_train):
    """x ~ N(0, 1); labels from a random linear teacher (with noise) so the loss can fall."""
    rng = np.random.default_rng(2024)
    teacher = rng.standard_normal((FEATURES, CLASSES))
    files = {}
    for split, n in (("train", n_train), ("val", N_VAL), ("test", N_TEST), ("predict", N_PREDICT)):
        x = rng.standard_normal((n, FEATURES)).astype(np.float32)
        y = (x @ teacher + 0.7 * rng.standard_normal((n, CLASSES))).argmax(axis=1).astype(np.int64)
        files[split] = {"x": os.path.join(work, f"{split}_x.npy"), "y": os.path.join(work, f"{split}_y.npy")}
        np.save(files[split]["x"], x)
        if split != "predict":
            np.save(files[split]["y"], y)
    return files


def spec_dir(work, spec_key):
    return os.path.join(work, "spec_" + spec_key)


def build(ltgen, work, spec_key):
    d = spec_dir(work, spec_key)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    spec = SPECS[spec_key]()
    files = make_data(d, N_RESUME if spec_key == "resume" else N_TRAIN)
    spec["data"]["train"] = {"source": "npy", **files["train"]}
    spec["data"]["val"] = {"source": "npy", **files["val"]}
    if spec_key != "resume" and not spec_key.startswith("lr_"):
        spec["data"]["test"] = {"source": "npy", **files["test"]}
        spec["data"]["predict"] = {"source": "npy", "x": files["predict"]["x"]}
    path = os.path.join(d, "spec.json")
    with open(path, "w") as f:
        json.dump(spec, f, indent=1)
    program = common.generate(ltgen, path, os.path.join(d, "project"))
    with open(os.path.join(d, "program.txt"), "w") as f:
        f.write(program)


class Ctx:
    """One case: its spec's program and data, and a clean folder of its own."""

    def __init__(self, work, spec_key, case):
        self.spec_key = spec_key
        sd = spec_dir(work, spec_key)
        p = os.path.join(sd, "program.txt")
        check(os.path.isfile(p), f"{p} is missing: the fixture trainer_build_{spec_key} did not run")
        with open(p) as f:
            self.program = f.read().strip()
        with open(os.path.join(sd, "spec.json")) as f:
            self.spec = json.load(f)
        self.data = {s: {"x": os.path.join(sd, f"{s}_x.npy"), "y": os.path.join(sd, f"{s}_y.npy")}
                     for s in ("train", "val", "test", "predict")}
        self.dir = os.path.join(work, "case_" + case)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.root = os.path.join(self.dir, "root")

    def run(self, *args, root=None, ok=True, timeout=120, env=None):
        root = root or self.root
        a = list(args)
        if not a or a[0] not in ("fit", "validate", "test", "predict"):
            a = ["fit"] + a
        a.append(f"--trainer.default_root_dir={root}")
        cmd = [self.program] + a
        print("$ " + " ".join(cmd))
        t0 = time.time()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout,
                              cwd=self.dir, env=env)
        print(f"  exit {proc.returncode} in {time.time() - t0:.2f}s")
        if ok and proc.returncode != 0:
            print(proc.stdout)
            print(proc.stderr)
            raise Failure(f"{self.program} {' '.join(a)} exited with {proc.returncode}")
        return proc

    def version(self, n=0, root=None):
        return os.path.join(root or self.root, "lightning_logs", f"version_{n}")

    def ckpt_dir(self, n=0, root=None):
        return os.path.join(self.version(n, root), "checkpoints")


# ---------------------------------------------------------------------------------------------
# Reading what the program wrote.

def read_rows(path):
    """metrics.csv -> list of dicts {column: float} (empty cells left out)."""
    check(os.path.isfile(path), f"{path} was not written")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        d = {}
        for k, v in r.items():
            if v not in ("", None):
                d[k] = float(v)
        out.append(d)
    return out


def metrics(ctx, n=0, root=None):
    return read_rows(os.path.join(ctx.version(n, root), "metrics.csv"))


def rows_with(rows, key):
    return [r for r in rows if key in r]


def steps_epochs(rows, key):
    return [(int(r["step"]), int(r["epoch"])) for r in rows_with(rows, key)]


def ckpts(d):
    check(os.path.isdir(d), f"{d} was not created")
    return sorted(os.listdir(d))


def load_ckpt(path):
    from safetensors.numpy import load_file
    check(os.path.isfile(path), f"{path} does not exist")
    return load_file(path)


def weights_of(path):
    t = load_ckpt(path)
    return {k[len("state_dict."):]: v for k, v in t.items() if k.startswith("state_dict.")}


def expect_eq(got, want, what):
    check(got == want, f"{what}: got {got}, expected {want}")


# ---------------------------------------------------------------------------------------------
# The torch side (the venv's torch; no Lightning).

def torch_net(weights=None, dropout=False):
    import torch
    layers = [torch.nn.Linear(FEATURES, HIDDEN), torch.nn.ReLU()]
    if dropout:
        layers.append(torch.nn.Dropout(0.25))
    layers.append(torch.nn.Linear(HIDDEN, CLASSES))

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.Sequential(*layers)

        def forward(self, x):
            return self.layers(x)

    net = Net()
    if weights is not None:
        net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()}, strict=True)
    return net


def torch_eval(weights, x_path, y_path, batches=None):
    """Lightning's epoch-level val_loss / val_acc: batch means weighted by batch size."""
    import torch
    net = torch_net(weights).eval()
    x = torch.from_numpy(np.load(x_path))
    y = torch.from_numpy(np.load(y_path))
    n = x.shape[0] if batches is None else min(x.shape[0], batches * BATCH)
    loss_sum, acc_sum = 0.0, 0.0
    with torch.no_grad():
        for i in range(0, n, BATCH):
            out = net(x[i:i + BATCH])
            yb = y[i:i + BATCH]
            loss_sum += torch.nn.functional.cross_entropy(out, yb).item() * yb.shape[0]
            acc_sum += (out.argmax(1) == yb).float().mean().item() * yb.shape[0]
    return loss_sum / n, acc_sum / n


def close(got, want, rtol, what):
    check(abs(got - want) <= rtol * max(abs(want), 1e-12), f"{what}: program {got!r}, torch {want!r} (rtol {rtol:g})")


def torch_train(ctx, init, epochs, clip=None, accumulate=1, batches_per_epoch=None):
    """Plain torch loop over the spec's (unshuffled) training data: SGD(lr, momentum=0.9)."""
    import torch
    net = torch_net(init)
    opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=0.9)
    x = torch.from_numpy(np.load(ctx.data["train"]["x"]))
    y = torch.from_numpy(np.load(ctx.data["train"]["y"]))
    nb = math.ceil(x.shape[0] / BATCH) if batches_per_epoch is None else batches_per_epoch
    for _ in range(epochs):
        opt.zero_grad()
        for b in range(nb):
            loss = torch.nn.functional.cross_entropy(net(x[b * BATCH:(b + 1) * BATCH]), y[b * BATCH:(b + 1) * BATCH])
            (loss / accumulate).backward()
            if (b + 1) % accumulate == 0 or b + 1 == nb:
                if clip is not None:
                    algo, v = clip
                    if algo == "norm":
                        torch.nn.utils.clip_grad_norm_(net.parameters(), v)
                    else:
                        torch.nn.utils.clip_grad_value_(net.parameters(), v)
                opt.step()
                opt.zero_grad()
    return {k: v.detach().numpy() for k, v in net.state_dict().items()}


def initial_weights(ctx):
    """Weights for --init_weights, from torch's default init (seeded)."""
    import torch
    from safetensors.torch import save_file
    torch.manual_seed(5)
    net = torch_net()
    path = os.path.join(ctx.dir, "init.safetensors")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, path)
    return path, {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}


def max_rel_diff(a, b):
    worst = 0.0
    for k in b:
        check(k in a and a[k].shape == b[k].shape, f"weights: {k} missing or of another shape")
        worst = max(worst, float(np.abs(a[k] - b[k]).max() / max(np.abs(b[k]).max(), 1e-30)))
    return worst


# ---------------------------------------------------------------------------------------------
# Cases. Each: (spec key, function(ctx)). Per epoch: 32 train batches, 5 val batches (base specs).

CASES = {}


def case(spec_key):
    def deco(fn):
        CASES[fn.__name__[len("case_"):]] = (spec_key, fn)
        return fn
    return deco


def final_ckpt(ctx, name, n=0, root=None):
    files = [f for f in ckpts(ctx.ckpt_dir(n, root)) if f != "last.safetensors"]
    check(files == [name], f"checkpoints/ holds {files}, expected [{name!r}]")
    return os.path.join(ctx.ckpt_dir(n, root), name)


@case("base")
def case_val_loop(ctx):
    """Validation at every epoch end: val_loss/val_acc rows at step 31, 63, 95 with epochs 0-2,
    train_loss/train_acc rows every step (log_every_n_steps=1); the last val_loss equals torch's
    loss of the final weights on the val set."""
    ctx.run("--trainer.log_every_n_steps=1")
    rows = metrics(ctx)
    expect_eq(steps_epochs(rows, "val_loss"), [(31, 0), (63, 1), (95, 2)], "val_loss rows (step, epoch)")
    expect_eq(steps_epochs(rows, "val_acc"), [(31, 0), (63, 1), (95, 2)], "val_acc rows (step, epoch)")
    expect_eq([s for s, _ in steps_epochs(rows, "train_loss")], list(range(96)), "train_loss row steps")
    expect_eq(steps_epochs(rows, "train_acc"), [(s, s // 32) for s in range(96)], "train_acc rows (step, epoch)")
    ck = final_ckpt(ctx, "epoch=2-step=96.safetensors")
    loss, acc = torch_eval(weights_of(ck), ctx.data["val"]["x"], ctx.data["val"]["y"])
    last = rows_with(rows, "val_loss")[-1]
    close(last["val_loss"], loss, 1e-5, "last val_loss")
    close(last["val_acc"], acc, 1e-6, "last val_acc")


@case("wide")
def case_blas_kernels(ctx):
    """Without OPENBLAS_CORETYPE, the program warns (once, on stderr) exactly when OpenBLAS does not
    recognise the CPU and runs its generic Prescott kernels, naming the kernels that
    scripts/openblas_coretype.py picks for the CPU; with those set, it does not."""
    linked = subprocess.run(["ldd", ctx.program], stdout=subprocess.PIPE, text=True, check=True).stdout
    check("libopenblas" in linked, f"{ctx.program} does not link OpenBLAS (ldd: {linked.strip()})")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    picker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "openblas_coretype.py")
    fits = subprocess.run([sys.executable, picker], env=env, stdout=subprocess.PIPE, text=True,
                          check=True).stdout.strip()
    print(f"OpenBLAS's kernels for this CPU: {'its own choice' if not fits else 'not recognised, ' + fits}")
    warned = [line for line in ctx.run("--trainer.max_epochs=1", env=env).stderr.splitlines() if "OPENBLAS" in line]
    if fits:
        expect_eq(warned, ["warning: OpenBLAS does not recognise this CPU and runs its generic Prescott kernels (SSE3, "
                           "no FMA), several times slower than this CPU allows: set OPENBLAS_CORETYPE=" + fits +
                           " in the environment to run its kernels for this CPU"], "stderr's OpenBLAS lines")
        env["OPENBLAS_CORETYPE"] = fits
        warned = [line for line in ctx.run("--trainer.max_epochs=1", env=env).stderr.splitlines() if "OPENBLAS" in line]
    expect_eq(warned, [], "stderr's OpenBLAS lines with the CPU's kernels")


@case("base")
def case_sanity_steps(ctx):
    """num_sanity_val_steps (0, 2, -1): the sanity check logs nothing; the same three val rows."""
    for i, n in enumerate((0, 2, -1)):
        ctx.run(f"--trainer.num_sanity_val_steps={n}", "--trainer.max_epochs=3")
        expect_eq(steps_epochs(metrics(ctx, i), "val_loss"), [(31, 0), (63, 1), (95, 2)],
                  f"num_sanity_val_steps={n}: val_loss rows")


@case("base")
def case_limit_batches_int(ctx):
    """limit_train_batches=10, limit_val_batches=2: 10 steps an epoch (val at 9, 19, 29), val_loss
    over the first 2 val batches only."""
    ctx.run("--trainer.limit_train_batches=10", "--trainer.limit_val_batches=2", "--trainer.log_every_n_steps=1")
    rows = metrics(ctx)
    expect_eq(steps_epochs(rows, "val_loss"), [(9, 0), (19, 1), (29, 2)], "val_loss rows")
    expect_eq(len(rows_with(rows, "train_loss")), 30, "train_loss rows")
    ck = final_ckpt(ctx, "epoch=2-step=30.safetensors")
    w = weights_of(ck)
    loss2, _ = torch_eval(w, ctx.data["val"]["x"], ctx.data["val"]["y"], batches=2)
    loss5, _ = torch_eval(w, ctx.data["val"]["x"], ctx.data["val"]["y"])
    check(abs(loss2 - loss5) > 1e-4, "test data: 2 and 5 val batches give the same loss")
    close(rows_with(rows, "val_loss")[-1]["val_loss"], loss2, 1e-5, "val_loss over 2 batches")


@case("base")
def case_limit_batches_float(ctx):
    """limit_train_batches=0.25 -> int(32*0.25) = 8 batches; limit_val_batches=0.5 -> int(5*0.5) = 2;
    limit_val_batches=0 turns validation off."""
    ctx.run("--trainer.limit_train_batches=0.25", "--trainer.limit_val_batches=0.5", "--trainer.log_every_n_steps=1")
    rows = metrics(ctx)
    expect_eq(steps_epochs(rows, "val_loss"), [(7, 0), (15, 1), (23, 2)], "val_loss rows")
    ck = final_ckpt(ctx, "epoch=2-step=24.safetensors")
    loss2, _ = torch_eval(weights_of(ck), ctx.data["val"]["x"], ctx.data["val"]["y"], batches=2)
    close(rows_with(rows, "val_loss")[-1]["val_loss"], loss2, 1e-5, "val_loss over int(5*0.5)=2 batches")
    ctx.run("--trainer.limit_val_batches=0")
    rows = metrics(ctx, 1)
    expect_eq(rows_with(rows, "val_loss"), [], "limit_val_batches=0: val_loss rows")
    final_ckpt(ctx, "epoch=2-step=96.safetensors", 1)


@case("base")
def case_val_check_interval_int(ctx):
    """val_check_interval=10: validation after batches 9, 19, 29 of each epoch (not at its end);
    the default ModelCheckpoint then saves on validation end: epoch=2-step=94."""
    ctx.run("--trainer.val_check_interval=10")
    rows = metrics(ctx)
    want = [(e * 32 + b, e) for e in range(3) for b in (9, 19, 29)]
    expect_eq(steps_epochs(rows, "val_loss"), want, "val_loss rows")
    final_ckpt(ctx, "epoch=2-step=94.safetensors")


@case("base")
def case_val_check_interval_float(ctx):
    """val_check_interval=0.25: val_check_batch = int(32*0.25) = 8: after batches 7, 15, 23, 31."""
    ctx.run("--trainer.val_check_interval=0.25")
    rows = metrics(ctx)
    want = [(e * 32 + b, e) for e in range(3) for b in (7, 15, 23, 31)]
    expect_eq(steps_epochs(rows, "val_loss"), want, "val_loss rows")
    final_ckpt(ctx, "epoch=2-step=96.safetensors")


@case("base")
def case_check_val_every_n_epoch(ctx):
    """check_val_every_n_epoch=2 over 4 epochs: validation after epochs 1 and 3 (steps 63, 127)."""
    ctx.run("--trainer.check_val_every_n_epoch=2", "--trainer.max_epochs=4")
    expect_eq(steps_epochs(metrics(ctx), "val_loss"), [(63, 1), (127, 3)], "val_loss rows")
    final_ckpt(ctx, "epoch=3-step=128.safetensors")


@case("base")
def case_check_val_none(ctx):
    """check_val_every_n_epoch=null, val_check_interval=20: every 20 batches counted across epochs
    (19, 39, 59, 79); the default ModelCheckpoint saves on validation end: epoch=2-step=80."""
    ctx.run("--trainer.check_val_every_n_epoch=null", "--trainer.val_check_interval=20")
    expect_eq(steps_epochs(metrics(ctx), "val_loss"), [(19, 0), (39, 1), (59, 1), (79, 2)], "val_loss rows")
    final_ckpt(ctx, "epoch=2-step=80.safetensors")


@case("base")
def case_accumulate(ctx):
    """accumulate_grad_batches=3: ceil(32/3) = 11 steps an epoch (the last group of 2 steps too),
    22 after 2 epochs; train_loss rows only on batches that step (Lightning skips logging while
    accumulating): steps 0..21; val rows at 10 and 21; final weights equal a torch loop with
    loss/3 accumulated."""
    init, w0 = initial_weights(ctx)
    ctx.run("--trainer.accumulate_grad_batches=3", "--trainer.max_epochs=2", "--trainer.log_every_n_steps=1",
            f"--init_weights={init}")
    rows = metrics(ctx)
    expect_eq([int(r["step"]) for r in rows_with(rows, "train_loss")], list(range(22)), "train_loss row steps")
    expect_eq(steps_epochs(rows, "val_loss"), [(10, 0), (21, 1)], "val_loss rows")
    ck = final_ckpt(ctx, "epoch=1-step=22.safetensors")
    want = torch_train(ctx, w0, 2, accumulate=3)
    plain = torch_train(ctx, w0, 2)
    check(max_rel_diff(plain, want) > 1e-3, "test data: accumulation does not change the weights")
    d = max_rel_diff(weights_of(ck), want)
    print(f"accumulate: worst relative weight difference vs torch {d:.3g}")
    check(d < 1e-4, f"final weights differ from torch's accumulated loop by {d:.3g}")


def clip_case(ctx, algo, value):
    init, w0 = initial_weights(ctx)
    ctx.run(f"--trainer.gradient_clip_val={value}", f"--trainer.gradient_clip_algorithm={algo}",
            "--trainer.max_epochs=2", f"--init_weights={init}")
    ck = final_ckpt(ctx, "epoch=1-step=64.safetensors")
    want = torch_train(ctx, w0, 2, clip=(algo, value))
    plain = torch_train(ctx, w0, 2)
    check(max_rel_diff(plain, want) > 1e-3, f"test data: clipping ({algo}, {value}) does not change the weights")
    d = max_rel_diff(weights_of(ck), want)
    print(f"clip {algo}: worst relative weight difference vs torch {d:.3g}")
    check(d < 1e-4, f"final weights differ from torch's clip_grad_{algo}_ loop by {d:.3g}")


@case("base")
def case_clip_norm(ctx):
    """gradient_clip_val=0.1 (norm): final weights equal torch with clip_grad_norm_ each step."""
    clip_case(ctx, "norm", 0.1)


@case("base")
def case_clip_value(ctx):
    """gradient_clip_val=0.02, algorithm value: final weights equal torch with clip_grad_value_."""
    clip_case(ctx, "value", 0.02)


@case("base")
def case_max_steps(ctx):
    """max_steps=40 (max_epochs=-1): stops inside epoch 1 at step 40: epoch=1-step=40; one val row."""
    ctx.run("--trainer.max_steps=40", "--trainer.max_epochs=-1", "--trainer.log_every_n_steps=1")
    rows = metrics(ctx)
    expect_eq(len(rows_with(rows, "train_loss")), 40, "train_loss rows")
    expect_eq(steps_epochs(rows, "val_loss"), [(31, 0)], "val_loss rows")
    final_ckpt(ctx, "epoch=1-step=40.safetensors")


@case("es")
def case_early_stopping(ctx):
    """EarlyStopping(val_loss, patience=2, min_delta=10): only the first validation improves by 10,
    so it stops after epoch 2 (of max 20): 96 steps, val rows at 31, 63, 95."""
    out = ctx.run().stdout
    expect_eq(steps_epochs(metrics(ctx), "val_loss"), [(31, 0), (63, 1), (95, 2)], "val_loss rows")
    final_ckpt(ctx, "epoch=2-step=96.safetensors")
    check("`trainer.should_stop` was set" in out, f"stdout does not give the stop reason:\n{out}")


@case("es")
def case_early_stopping_min_epochs(ctx):
    """EarlyStopping with min_epochs=5: the stop is deferred to the end of epoch 4 (160 steps); once
    should_stop is set every step is logged (steps 96..159 besides the log_every_n_steps=50 row 49)."""
    out = ctx.run("--trainer.min_epochs=5").stdout
    rows = metrics(ctx)
    expect_eq(steps_epochs(rows, "val_loss"), [(31, 0), (63, 1), (95, 2), (127, 3), (159, 4)], "val_loss rows")
    expect_eq([int(r["step"]) for r in rows_with(rows, "train_loss")], [49] + list(range(96, 160)),
              "train_loss row steps")
    final_ckpt(ctx, "epoch=4-step=160.safetensors")
    check("min_epochs=5" in out and "Training will continue" in out, f"stdout lacks the min_epochs notice:\n{out}")


@case("es")
def case_early_stopping_min_steps(ctx):
    """EarlyStopping with min_steps=100: stop requested at step 96; epoch 3 runs until step 100, where
    a validation runs (Lightning validates when it may stop) at step 99: epoch=3-step=100."""
    ctx.run("--trainer.min_steps=100")
    rows = metrics(ctx)
    expect_eq(steps_epochs(rows, "val_loss"), [(31, 0), (63, 1), (95, 2), (99, 3)], "val_loss rows")
    expect_eq([int(r["step"]) for r in rows_with(rows, "train_loss")], [49, 96, 97, 98, 99], "train_loss row steps")
    final_ckpt(ctx, "epoch=3-step=100.safetensors")


@case("base")
def case_fast_dev_run(ctx):
    """fast_dev_run=true: 1 batch, nothing written; fast_dev_run=5: 5 batches (max_steps=5)."""
    out = ctx.run("--trainer.fast_dev_run=true", "--trainer.enable_progress_bar=true").stdout
    check(not os.path.exists(os.path.join(ctx.root, "lightning_logs")), "fast_dev_run wrote lightning_logs")
    check("Epoch 0: 1/1 [" in out and "`max_steps=1` reached" in out, f"fast_dev_run=true: not one batch:\n{out}")
    out = ctx.run("--trainer.fast_dev_run=5", "--trainer.enable_progress_bar=true").stdout
    check(not os.path.exists(os.path.join(ctx.root, "lightning_logs")), "fast_dev_run=5 wrote lightning_logs")
    check(not os.path.exists(os.path.join(ctx.root, "checkpoints")), "fast_dev_run=5 wrote checkpoints")
    check("Epoch 0: 5/5 [" in out and "`max_steps=5` reached" in out, f"fast_dev_run=5: not five batches:\n{out}")
    check("Running in `fast_dev_run` mode: will run the requested loop using 5 batch(es)" in out,
          f"no fast_dev_run notice:\n{out}")


@case("base")
def case_summary_and_bar_callbacks(ctx):
    """ModelSummary and TQDMProgressBar in trainer.callbacks (Lightning 2.6.6 checked by hand): the
    summary prints under fast_dev_run (after its line); a ModelSummary replaces the default one, with
    Lightning's line saying so, and prints even with enable_model_summary false unless max_depth is 0;
    refresh_rate 0 turns the bar off; a bar with enable_progress_bar false is refused (exit 2)."""
    summary = "Total estimated model params size (MB)"
    run = lambda *a, ok=True: ctx.run("--trainer.max_steps=2", "--trainer.logger=false",
                                      "--trainer.enable_checkpointing=false", *a, ok=ok)
    out = ctx.run("--trainer.fast_dev_run=2", "--trainer.enable_progress_bar=true").stdout
    check(summary in out and out.index("Running in `fast_dev_run` mode") < out.index(summary),
          f"fast_dev_run: no model summary after its line:\n{out}")
    said = "Trainer already configured with model summary callbacks: [<class " \
           "'lightning.pytorch.callbacks.model_summary.ModelSummary'>]. Skipping setting a default `ModelSummary` callback."
    proc = run('--trainer.callbacks=[{"class_path": "ModelSummary", "init_args": {"max_depth": 0}}]')
    check(summary not in proc.stdout and said in proc.stderr, f"ModelSummary(max_depth=0):\n{proc.stdout}\n{proc.stderr}")
    proc = run("--trainer.enable_model_summary=false", '--trainer.callbacks=[{"class_path": "ModelSummary"}]')
    check(summary in proc.stdout and said not in proc.stderr,
          f"ModelSummary with enable_model_summary false:\n{proc.stdout}\n{proc.stderr}")
    proc = run("--trainer.enable_progress_bar=true",
               '--trainer.callbacks=[{"class_path": "TQDMProgressBar", "init_args": {"refresh_rate": 0}}]')
    check("Epoch 0:" not in proc.stdout and summary in proc.stdout, f"refresh_rate=0 drew a bar:\n{proc.stdout}")
    proc = run("--trainer.enable_progress_bar=true", '--trainer.callbacks=[{"class_path": "TQDMProgressBar"}]')
    check("Epoch 0: 2/" in proc.stdout, f"TQDMProgressBar() drew no bar:\n{proc.stdout}")
    proc = run("--trainer.enable_progress_bar=false", '--trainer.callbacks=[{"class_path": "TQDMProgressBar"}]',
               ok=False)
    check(proc.returncode == 2 and "Trainer was configured with `enable_progress_bar=False` but found `TQDMProgressBar`"
          in proc.stderr, f"a bar with enable_progress_bar false: exit {proc.returncode}\n{proc.stderr}")


@case("base")
def case_overfit_batches(ctx):
    """overfit_batches=2: the first 2 train batches every epoch and the first 2 val batches (Lightning 2
    validates on the val data, 1.x did on the train batches): 6 steps in 3 epochs, val rows at 1, 3, 5;
    the last val_loss is the final weights' loss on val batches 0-1."""
    ctx.run("--trainer.overfit_batches=2", "--trainer.log_every_n_steps=1")
    rows = metrics(ctx)
    expect_eq(steps_epochs(rows, "val_loss"), [(1, 0), (3, 1), (5, 2)], "val_loss rows")
    ck = final_ckpt(ctx, "epoch=2-step=6.safetensors")
    loss, _ = torch_eval(weights_of(ck), ctx.data["val"]["x"], ctx.data["val"]["y"], batches=2)
    close(rows_with(rows, "val_loss")[-1]["val_loss"], loss, 1e-5, "val_loss on the first 2 val batches")


@case("base")
def case_log_every_n_steps(ctx):
    """log_every_n_steps=5 over 64 steps: rows at steps 4, 9, ..., 59 (12 rows)."""
    ctx.run("--trainer.log_every_n_steps=5", "--trainer.max_epochs=2")
    rows = metrics(ctx)
    expect_eq([int(r["step"]) for r in rows_with(rows, "train_loss")], list(range(4, 64, 5)), "train_loss row steps")
    expect_eq([int(r["epoch"]) for r in rows_with(rows, "train_loss")], [s // 32 for s in range(4, 64, 5)],
              "train_loss row epochs")


@case("base")
def case_no_checkpointing(ctx):
    """enable_checkpointing=false: no checkpoint anywhere, and no 'Checkpoint:' line."""
    out = ctx.run("--trainer.enable_checkpointing=false", "--trainer.max_epochs=1").stdout
    check(not os.path.exists(ctx.ckpt_dir()), f"{ctx.ckpt_dir()} exists")
    found = [os.path.join(d, f) for d, _, fs in os.walk(ctx.dir) for f in fs if f.endswith(".safetensors")]
    check(not found, f"checkpoint files written: {found}")
    check("Checkpoint:" not in out, f"stdout names a checkpoint:\n{out}")


@case("base")
def case_model_summary(ctx):
    """enable_model_summary: the table (Name/Type/Params, 'Total params') printed, or not."""
    out = ctx.run("--trainer.max_epochs=1").stdout
    check(re.search(r"\|\s*Name\s*\|\s*Type\s*\|\s*Params", out) and "Total params" in out,
          f"no model summary:\n{out}")
    params = FEATURES * HIDDEN + HIDDEN + HIDDEN * CLASSES + CLASSES
    check(re.search(rf"^{params}\s+Total params", out, re.M), f"summary does not count {params} params:\n{out}")
    out = ctx.run("--trainer.max_epochs=1", "--trainer.enable_model_summary=false").stdout
    check("Total params" not in out and "Name" not in out, f"summary printed with enable_model_summary=false:\n{out}")


@case("base")
def case_validate_test(ctx):
    """validate / test --ckpt_path=PATH: a row at step 0, epoch 0 with val_loss+val_acc / test_loss+
    test_acc equal to torch on the checkpoint's weights; the results table printed; --ckpt_path=last."""
    ctx.run("--trainer.max_epochs=1")
    ck = final_ckpt(ctx, "epoch=0-step=32.safetensors")
    w = weights_of(ck)
    for sub, split, prefix, n in (("validate", "val", "val", 1), ("test", "test", "test", 2)):
        out = ctx.run(sub, f"--ckpt_path={ck}").stdout
        rows = metrics(ctx, n)
        expect_eq(len(rows), 1, f"{sub}: metrics.csv rows")
        r = rows[0]
        expect_eq((int(r["step"]), int(r["epoch"])), (0, 0), f"{sub}: (step, epoch)")
        loss, acc = torch_eval(w, ctx.data[split]["x"], ctx.data[split]["y"])
        close(r[f"{prefix}_loss"], loss, 1e-5, f"{sub}: {prefix}_loss")
        close(r[f"{prefix}_acc"], acc, 1e-6, f"{sub}: {prefix}_acc")
        title = "Validate metric" if sub == "validate" else "Test metric"
        check(title in out and "DataLoader 0" in out and f"{prefix}_loss" in out, f"{sub}: no results table:\n{out}")
        m = re.search(rf"{prefix}_loss\s+(\S+)", out)
        close(float(m.group(1)), loss, 1e-5, f"{sub}: printed {prefix}_loss")
    out = ctx.run("test", "--ckpt_path=last").stdout
    close(metrics(ctx, 3)[0]["test_loss"], torch_eval(w, ctx.data["test"]["x"], ctx.data["test"]["y"])[0], 1e-5,
          "test --ckpt_path=last: test_loss")
    # limit_test_batches applies to the test subcommand.
    ctx.run("test", f"--ckpt_path={ck}", "--trainer.limit_test_batches=1")
    close(metrics(ctx, 4)[0]["test_loss"], torch_eval(w, ctx.data["test"]["x"], ctx.data["test"]["y"], 1)[0], 1e-5,
          "test with limit_test_batches=1")


@case("base")
def case_ckpt_last_follows_the_logger(ctx):
    """--ckpt_path=last looks where ModelCheckpoint wrote: <default_root_dir>/checkpoints without a
    logger, the first logger's folder with one (a fixed version's folder too)."""
    ctx.run("--trainer.max_epochs=1", "--trainer.logger=false")
    ck = os.path.join(ctx.root, "checkpoints", "epoch=0-step=32.safetensors")
    check(os.path.isfile(ck), f"without a logger the checkpoint is not {ck}")
    logger = json.dumps({"class_path": "CSVLogger",
                         "init_args": {"save_dir": os.path.join(ctx.dir, "logs"), "version": "fixed"}})
    ctx.run("--trainer.max_epochs=2", "--trainer.logger=" + logger)
    ck2 = os.path.join(ctx.dir, "logs", "lightning_logs", "fixed", "checkpoints", "epoch=1-step=64.safetensors")
    check(os.path.isfile(ck2), f"with a CSVLogger of version 'fixed' the checkpoint is not {ck2}")
    for path, extra in ((ck, "--trainer.logger=false"), (ck2, "--trainer.logger=" + logger)):
        out = ctx.run("test", "--ckpt_path=last", extra).stdout
        m = re.search(r"test_loss\s+(\S+)", out)
        check(m is not None, f"test --ckpt_path=last {extra}: no results table:\n{out}")
        close(float(m.group(1)), torch_eval(weights_of(path), ctx.data["test"]["x"], ctx.data["test"]["y"])[0], 1e-5,
              f"test --ckpt_path=last {extra}: test_loss of {path}")


@case("base")
def case_predict(ctx):
    """predict --ckpt_path=PATH: the .npy is [20, 3] float32 and equals torch's forward."""
    import torch
    ctx.run("--trainer.max_epochs=1")
    ck = final_ckpt(ctx, "epoch=0-step=32.safetensors")
    out_path = os.path.join(ctx.dir, "pred.npy")
    ctx.run("predict", f"--ckpt_path={ck}", f"--predictions_path={out_path}")
    got = np.load(out_path)
    expect_eq((got.shape, str(got.dtype)), ((N_PREDICT, CLASSES), "float32"), "predictions shape, dtype")
    net = torch_net(weights_of(ck)).eval()
    with torch.no_grad():
        want = net(torch.from_numpy(np.load(ctx.data["predict"]["x"]))).numpy()
    d = float(np.abs(got - want).max())
    check(d < 1e-5, f"predictions differ from torch's forward by {d:.3g}")


@case("topk")
def case_checkpoint_top_k(ctx):
    """ModelCheckpoint(monitor=val_loss, save_top_k=2, filename='{epoch}-{val_loss:.2f}', save_last):
    the two epochs with the lowest val_loss (from metrics.csv) under the template, plus last (saved
    with the last of them); test --ckpt_path=best uses the lowest, --ckpt_path=last last's weights."""
    ctx.run()
    rows = metrics(ctx)
    vals = [(r["val_loss"], int(r["epoch"])) for r in rows_with(rows, "val_loss")]
    expect_eq(len(vals), 4, "val_loss rows")
    # Lightning keeps the k best; on a tie the earlier stays (the new one is not better).
    best = sorted(vals, key=lambda t: (t[0], t[1]))[:2]
    want = sorted([f"epoch={e}-val_loss={v:.2f}.safetensors" for v, e in best] + ["last.safetensors"])
    check(len(set(want)) == 3, f"test data: two kept checkpoints have the same name {want}")
    expect_eq(ckpts(ctx.ckpt_dir()), want, "checkpoints/")
    best_v, best_e = best[0]
    best_file = os.path.join(ctx.ckpt_dir(), f"epoch={best_e}-val_loss={best_v:.2f}.safetensors")
    # Lightning 2.6 saves `last` only along with a top-k file: at the last epoch that entered the top 2
    # (a val_loss below the worse one kept), 32 steps an epoch.
    kept, last_epoch = [], None
    for v, e in vals:
        if len(kept) < 2 or v < max(kept):
            kept, last_epoch = sorted(kept + [v])[:2], e
    last_meta = common.checkpoint_metadata(os.path.join(ctx.ckpt_dir(), "last.safetensors"))
    expect_eq((last_meta["epoch"], last_meta["global_step"]), (str(last_epoch), str(32 * (last_epoch + 1))),
              "last.safetensors (epoch, global_step)")
    for which, path in (("best", best_file), ("last", os.path.join(ctx.ckpt_dir(), "last.safetensors"))):
        ctx.run("test", f"--ckpt_path={which}")
        n = 1 if which == "best" else 2
        want_loss = torch_eval(weights_of(path), ctx.data["test"]["x"], ctx.data["test"]["y"])[0]
        close(metrics(ctx, n)[0]["test_loss"], want_loss, 1e-5, f"test --ckpt_path={which}")
    w_best, w_last = weights_of(best_file), weights_of(os.path.join(ctx.ckpt_dir(), "last.safetensors"))
    if best_e != last_epoch:
        check(max_rel_diff(w_best, w_last) > 0, "test data: best and last have the same weights")
    # Fit resumed from the finished run has nothing to train (FitLoop.skip): no on_train_start or
    # on_train_end, so ModelCheckpoint writes no new `last` (versions 1 and 2 are the tests above).
    out = ctx.run("--ckpt_path=" + os.path.join(ctx.ckpt_dir(), "last.safetensors")).stdout
    check("`max_epochs=4` reached" in out, f"resuming a finished run:\n{out}")
    d = ctx.ckpt_dir(3)
    check(not os.path.exists(d), f"resuming a finished run wrote {d}: {os.listdir(d) if os.path.isdir(d) else ''}")


@case("mcs")
def case_checkpoint_variants(ctx):
    """Five ModelCheckpoints over 5 epochs (160 steps): save_top_k=-1 keeps every epoch's file;
    save_top_k=0 + save_last keeps only last; every_n_train_steps=10 keeps steps 10..160 (16 files,
    epoch = (step-1)//32); every_n_epochs=2 keeps epochs 1 and 3; save_weights_only keeps one file
    (the highest val_loss, mode=max) with state_dict.* only."""
    ctx.run()
    expect_eq(ckpts(os.path.join(ctx.dir, "ck_all")),
              sorted(f"epoch={e}-step={32 * (e + 1)}.safetensors" for e in range(5)), "ck_all (save_top_k=-1)")
    expect_eq(ckpts(os.path.join(ctx.dir, "ck_last")), ["last.safetensors"], "ck_last (save_top_k=0, save_last)")
    expect_eq(ckpts(os.path.join(ctx.dir, "ck_steps")),
              sorted(f"epoch={(s - 1) // 32}-step={s}.safetensors" for s in range(10, 161, 10)),
              "ck_steps (every_n_train_steps=10)")
    expect_eq(ckpts(os.path.join(ctx.dir, "ck_epochs")),
              ["epoch=1-step=64.safetensors", "epoch=3-step=128.safetensors"], "ck_epochs (every_n_epochs=2)")
    vals = [(r["val_loss"], int(r["epoch"])) for r in rows_with(metrics(ctx), "val_loss")]
    worst = sorted(vals, key=lambda t: (-t[0], t[1]))[0][1]
    name = f"epoch={worst}-step={32 * (worst + 1)}.safetensors"
    expect_eq(ckpts(os.path.join(ctx.dir, "ck_weights")), [name], "ck_weights (monitor val_loss, mode=max)")
    t = load_ckpt(os.path.join(ctx.dir, "ck_weights", name))
    expect_eq(sorted(k for k in t if not k.startswith("state_dict.")), [], "save_weights_only: non-weight tensors")
    full = load_ckpt(os.path.join(ctx.dir, "ck_all", name))
    check(any(k.startswith("optimizer.") for k in full), "a full checkpoint has no optimizer tensors")
    for k, v in t.items():
        check(np.array_equal(v, full[k]), f"weights-only {k} differs from the full checkpoint of the same step")
    meta = common.checkpoint_metadata(os.path.join(ctx.dir, "ck_weights", name))
    check("optimizer" not in meta and "loops" not in meta, f"weights-only metadata has training state: {sorted(meta)}")
    # A weights-only file cannot resume.
    p = ctx.run(f"--ckpt_path={os.path.join(ctx.dir, 'ck_weights', name)}", root=os.path.join(ctx.dir, "r2"), ok=False)
    check(p.returncode == 1 and "weights-only" in p.stderr, f"resume from weights-only: exit {p.returncode}:\n{p.stderr}")


def lr_torch(kind, n, monitor_values=None):
    """torch's lr before each of n steps (what LearningRateMonitor logs at on_train_batch_start)."""
    import warnings
    import torch
    warnings.filterwarnings("ignore", category=UserWarning)  # stepping without optimizer.step() is the point
    section, opt_kind = SCHEDULERS[kind]
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=LR, momentum=0.9) if opt_kind == "SGD" else torch.optim.Adam([p], lr=0.01)
    S = torch.optim.lr_scheduler

    def make(sec):
        a = {k: v for k, v in sec.items() if k not in ("type", "monitor", "interval", "frequency")}
        t = sec["type"]
        if t == "SequentialLR":
            subs = [make(s) for s in a["schedulers"]]
            return S.SequentialLR(opt, schedulers=subs, milestones=a["milestones"])
        if t == "ChainedScheduler":
            return S.ChainedScheduler([make(s) for s in a["schedulers"]])
        return getattr(S, t)(opt, **a)

    sched = make(section)
    lrs = []
    for i in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        if kind == "ReduceLROnPlateau":
            sched.step(monitor_values[i])
        else:
            sched.step()
    return lrs


def sched_case(ctx, kind):
    ctx.run()
    rows = metrics(ctx)
    opt = SCHEDULERS[kind][1]
    col = f"lr-{opt}"
    got = [(int(r["step"]), r[col]) for r in rows_with(rows, col)]
    expect_eq([s for s, _ in got], list(range(SCHED_STEPS)), f"{col} row steps")
    check(all("epoch" not in r for r in rows_with(rows, col)), f"{col} rows have an epoch (LearningRateMonitor's don't)")
    monitor = None
    if kind == "ReduceLROnPlateau":
        vals = rows_with(rows, "val_loss")
        expect_eq([int(r["step"]) for r in vals], list(range(SCHED_STEPS)), "val_loss row steps")
        monitor = [r["val_loss"] for r in vals]
    want = lr_torch(kind, SCHED_STEPS, monitor)
    check(len(set(want)) >= 2, f"test data: {kind}'s lr is constant over {SCHED_STEPS} steps")
    bad = [f"  step {i}: program {g!r}, torch {w!r}" for i, ((_, g), w) in enumerate(zip(got, want))
           if abs(g - w) > 1e-12 * abs(w)]
    check(not bad, f"{kind}: {len(bad)} learning rates differ from torch's:\n" + "\n".join(bad[:10]))
    print(f"{kind}: {SCHED_STEPS} learning rates equal torch's ({want[0]:.6g} .. {want[-1]:.6g})")


for _k in SCHEDULERS:
    def _f(ctx, k=_k):
        sched_case(ctx, k)
    _f.__doc__ = f"{_k} (interval=step) with LearningRateMonitor: lr-* at steps 0..{SCHED_STEPS - 1} equal torch's."
    CASES["lr_" + _k] = ("lr_" + _k, _f)


@case("base")
def case_max_time(ctx):
    """max_time=00:00:00:01 with max_epochs huge: the Timer stops fit after about 1 s (not 1e7 epochs)."""
    t0 = time.time()
    p = ctx.run("--trainer.max_time=00:00:00:01", "--trainer.max_epochs=10000000", timeout=60)
    wall = time.time() - t0
    text = p.stdout + p.stderr
    check("Time limit reached" in text, f"no 'Time limit reached' message:\n{text[-2000:]}")
    check(1.0 <= wall < 30, f"fit took {wall:.1f}s with max_time=1s")
    meta = common.checkpoint_metadata(os.path.join(ctx.ckpt_dir(), os.listdir(ctx.ckpt_dir())[0]))
    check(int(meta["global_step"]) < 32 * 10000000, "the Timer did not stop training")


# Resume ---------------------------------------------------------------------------------------

RESUME_BATCHES = math.ceil(N_RESUME / BATCH)  # 13


def same_checkpoint(a, b):
    ta, tb = load_ckpt(a), load_ckpt(b)
    check(sorted(ta) == sorted(tb), f"{a} and {b} hold different tensors: {sorted(ta)} vs {sorted(tb)}")
    for k in ta:
        check(ta[k].dtype == tb[k].dtype and ta[k].tobytes() == tb[k].tobytes(),
              f"{k} differs: {a} vs {b} (max |diff| {float(np.abs(ta[k] - tb[k]).max()):.3g})")
    ma, mb = common.checkpoint_metadata(a), common.checkpoint_metadata(b)
    for key in ("epoch", "global_step", "optimizer", "rng_states", "loops", "lr_schedulers"):
        check(ma.get(key) == mb.get(key), f"metadata {key} differs:\n  {a}: {ma.get(key)}\n  {b}: {mb.get(key)}")
    ca, cb_ = json.loads(ma["callbacks"]), json.loads(mb["callbacks"])
    es = [k for k in ca if k.startswith("EarlyStopping")]
    check(es, f"no EarlyStopping state in {a}")
    for k in es:
        check(ca[k] == cb_.get(k), f"EarlyStopping state differs: {ca[k]} vs {cb_.get(k)}")


def val_rows_after(rows, step):
    return [(int(r["step"]), int(r["epoch"]), r["val_loss"]) for r in rows_with(rows, "val_loss") if r["step"] >= step]


def train_rows_after(rows, step):
    return [(int(r["step"]), int(r["epoch"]), r["train_loss"]) for r in rows_with(rows, "train_loss") if r["step"] >= step]


@case("resume")
def case_resume_epoch(ctx):
    """fit 4 epochs vs fit 2 + fit --ckpt_path=<epoch 1 checkpoint> to 4: the final checkpoints are
    bit-identical (weights, Adam slots, step counts, RNG, StepLR and EarlyStopping state), and so are
    the loss rows after the resume point (shuffle and Dropout draw the same numbers)."""
    n = RESUME_BATCHES
    full = os.path.join(ctx.dir, "full")
    ctx.run(root=full)
    final = f"epoch=3-step={4 * n}.safetensors"
    ref = os.path.join(ctx.ckpt_dir(0, full), final)
    check(os.path.isfile(ref), f"{ref} was not written: {ckpts(ctx.ckpt_dir(0, full))}")
    part = os.path.join(ctx.dir, "part")
    ctx.run("--trainer.max_epochs=2", root=part)
    mid = os.path.join(ctx.ckpt_dir(0, part), f"epoch=1-step={2 * n}.safetensors")
    check(os.path.isfile(mid), f"{mid} was not written: {ckpts(ctx.ckpt_dir(0, part))}")
    ctx.run(f"--ckpt_path={mid}", root=part)
    got = os.path.join(ctx.ckpt_dir(1, part), final)
    same_checkpoint(got, ref)
    full_rows, res_rows = metrics(ctx, 0, full), metrics(ctx, 1, part)
    expect_eq(val_rows_after(res_rows, 0), val_rows_after(full_rows, 2 * n), "val rows after the resume")
    expect_eq(train_rows_after(res_rows, 0), train_rows_after(full_rows, 2 * n), "train rows after the resume")


@case("resume")
def case_resume_mid_epoch(ctx):
    """Resume from a mid-epoch file (every_n_train_steps=7: step 21 is batch 8 of epoch 1) to 4 epochs:
    the final checkpoint is bit-identical to the uninterrupted run's, and so are the later rows."""
    n = RESUME_BATCHES
    full = os.path.join(ctx.dir, "full")
    ctx.run(root=full)
    files = ckpts(ctx.ckpt_dir(0, full))
    want_files = sorted([f"epoch={(s - 1) // n}-step={s}.safetensors" for s in range(7, 4 * n + 1, 7)] +
                        [f"epoch=3-step={4 * n}.safetensors"])
    expect_eq(files, want_files, "checkpoints/ (every 7 steps + the last epoch)")
    ref = os.path.join(ctx.ckpt_dir(0, full), f"epoch=3-step={4 * n}.safetensors")
    mid = os.path.join(ctx.ckpt_dir(0, full), "epoch=1-step=21.safetensors")
    ctx.run(f"--ckpt_path={mid}", root=full)
    got = os.path.join(ctx.ckpt_dir(1, full), f"epoch=3-step={4 * n}.safetensors")
    same_checkpoint(got, ref)
    full_rows, res_rows = metrics(ctx, 0, full), metrics(ctx, 1, full)
    expect_eq(val_rows_after(res_rows, 0), val_rows_after(full_rows, 21), "val rows after the resume")
    expect_eq(train_rows_after(res_rows, 0), train_rows_after(full_rows, 21), "train rows after the resume")


@case("resume")
def case_resume_after_validation(ctx):
    """Validation every 5 batches: a run stopped at step 5 (max_steps) has its checkpoint from that
    validation (ModelCheckpoint's on_validation_end, inside the batch's on_advance_end, before the
    step count loggers use moves on). Resumed from it to 4 epochs, the rows after it carry the
    uninterrupted run's steps (Lightning restarts that batch "on last" and finishes its
    on_advance_end: logging its next step as 5, not 4), and every checkpoint it writes is the
    uninterrupted run's file of that name, bit for bit."""
    every5 = "--trainer.val_check_interval=5"
    full = os.path.join(ctx.dir, "full")
    ctx.run(every5, root=full)
    part = os.path.join(ctx.dir, "part")
    ctx.run(every5, "--trainer.max_steps=5", root=part)
    mid = os.path.join(ctx.ckpt_dir(0, part), "epoch=0-step=5.safetensors")
    check(os.path.isfile(mid), f"{mid} was not written: {ckpts(ctx.ckpt_dir(0, part))}")
    ctx.run(every5, f"--ckpt_path={mid}", root=part)
    written = ckpts(ctx.ckpt_dir(1, part))
    check(written and set(written) <= set(ckpts(ctx.ckpt_dir(0, full))),
          f"the resumed run wrote {written}, the uninterrupted one {ckpts(ctx.ckpt_dir(0, full))}")
    for name in written:
        same_checkpoint(os.path.join(ctx.ckpt_dir(1, part), name), os.path.join(ctx.ckpt_dir(0, full), name))
    full_rows, res_rows = metrics(ctx, 0, full), metrics(ctx, 1, part)
    expect_eq(val_rows_after(res_rows, 0), val_rows_after(full_rows, 5), "val rows after the resume")
    expect_eq(train_rows_after(res_rows, 0), train_rows_after(full_rows, 5), "train rows after the resume")


@case("base")
def case_resume_other_spec(ctx):
    """Resuming with another spec's checkpoint is refused (exit 1), naming the file and what differs."""
    # A checkpoint of another program: the es spec differs in trainer.max_epochs and callbacks.
    es_dir = spec_dir(os.path.dirname(ctx.dir), "es")
    with open(os.path.join(es_dir, "program.txt")) as f:
        es_prog = f.read().strip()
    es_root = os.path.join(ctx.dir, "es_root")
    subprocess.run([es_prog, "fit", "--trainer.max_epochs=1", f"--trainer.default_root_dir={es_root}"],
                   check=True, stdout=subprocess.DEVNULL)
    theirs = os.path.join(es_root, "lightning_logs", "version_0", "checkpoints", "epoch=0-step=32.safetensors")
    p = ctx.run(f"--ckpt_path={theirs}", ok=False)
    check(p.returncode == 1, f"exit {p.returncode}, expected 1:\n{p.stderr}")
    check(theirs in p.stderr and "different spec" in p.stderr and 'name is "tr_base" here, "tr_es" in the checkpoint' in p.stderr,
          f"the message does not name the file and the first difference (name):\n{p.stderr}")


def corrupt_case(ctx, how):
    ctx.run("--trainer.max_epochs=1")
    good = final_ckpt(ctx, "epoch=0-step=32.safetensors")
    data = bytearray(open(good, "rb").read())
    bad = os.path.join(ctx.dir, f"{how}.safetensors")
    n = struct.unpack("<Q", bytes(data[:8]))[0]
    if how == "truncated":
        data = data[:len(data) - 100]
    elif how == "flipped_data":
        i = 8 + n + (len(data) - 8 - n) // 2  # a byte in the middle of the tensor data
        data[i] ^= 0x10
    elif how == "flipped_header":
        i = 8 + data[8:8 + n].index(b'"shape"') + 2
        data[i] ^= 0x01  # "shape" -> "rhape"
    with open(bad, "wb") as f:
        f.write(data)
    for sub in ("fit", "validate"):
        p = ctx.run(sub, f"--ckpt_path={bad}", root=os.path.join(ctx.dir, "r_" + sub), ok=False)
        check(p.returncode == 1, f"{sub} --ckpt_path={how}: exit {p.returncode}, expected 1:\n{p.stdout}\n{p.stderr}")
        msg = p.stderr.strip()
        check(bad in msg, f"{sub}: the message does not name {bad}:\n{msg}")
        check(len(msg.splitlines()) == 1, f"{sub}: expected one line on stderr:\n{msg}")
        print(f"  {sub}: {msg}")
        check(not os.path.exists(os.path.join(ctx.dir, "r_" + sub, "lightning_logs", "version_0", "metrics.csv")) or
              sub != "fit", f"{sub}: trained on a damaged checkpoint")


@case("base")
def case_ckpt_truncated(ctx):
    """A checkpoint with its last 100 bytes cut off is refused (exit 1, one line naming the file)."""
    corrupt_case(ctx, "truncated")


@case("base")
def case_ckpt_bit_flip_data(ctx):
    """A checkpoint with one bit flipped in its tensor data is refused (the checksum does not match)."""
    corrupt_case(ctx, "flipped_data")


@case("base")
def case_ckpt_bit_flip_header(ctx):
    """A checkpoint with one bit flipped in its JSON header is refused."""
    corrupt_case(ctx, "flipped_header")


# ---------------------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--list", action="store_true")
    p.add_argument("--ltgen")
    p.add_argument("--work")
    p.add_argument("--build", metavar="SPEC")
    p.add_argument("--case")
    args = p.parse_args()
    if args.list:
        for name, (spec_key, _) in CASES.items():
            print(f"{name} {spec_key}" + (" es" if name == "resume_other_spec" else ""))
        return
    if args.build:
        check(args.build in SPECS, f"no spec {args.build!r}")
        common.main(lambda: build(args.ltgen, args.work, args.build))
        return
    check(args.case in CASES, f"no case {args.case!r}; --list names them")
    spec_key, fn = CASES[args.case]
    print(fn.__doc__)

    def go():
        fn(Ctx(args.work, spec_key, args.case))
    common.main(go)


if __name__ == "__main__":
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass
    main()
