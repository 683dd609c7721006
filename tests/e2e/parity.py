#!/usr/bin/env python3
"""parity_<case>: a generated program trains like a plain PyTorch loop (DESIGN.md §6).

  parity.py --ltgen PATH --work DIR SPEC.json

SPEC is an MLP spec (tests/e2e/parity_specs/) with an npy training source and shuffle=false.
The test writes the data (float32 x; int64 class indices or float32 targets made by a random
teacher), builds a torch.nn model with the spec's layers under `layers` (as the generated
program names them), saves its initial weights with safetensors.torch.save_file, runs the
program with --init_weights and --data.train.x/y, then trains the same torch model with
torch.optim and the same batches. Checks: the per-step train_loss in metrics.csv is within
1e-4 relative of torch's loss on every step, the same number of steps, and the final weights
in the checkpoint (state_dict.<name>) are within 1e-4 (relative to each tensor's largest
magnitude) of torch's and load with load_state_dict(strict=True). Buffers (BatchNorm's
running_mean and running_var, float32; num_batches_tracked, int64, exactly) are part of the
state_dict and checked with the weights; for specs with BatchNorm, one epoch then a resume from
its checkpoint must give the uninterrupted run's checkpoint exactly.
"""
import argparse
import json
import math
import os
import shutil

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import common
from common import check, Failure

LOSS_RTOL = 1e-4
WEIGHT_RTOL = 1e-4
SLOT_RTOL = 1e-4

# Samples per case (not a spec field for npy sources); the default is 8 full batches.
NUM_SAMPLES = {
    "ce_sgd_nesterov": 256,
    "mse_adam_amsgrad": 200,
    "huber_adamw_max_steps": 128,
    "bce_sgd_drop_last": 100,        # 6 full batches of 16, the last 4 rows dropped
    "l1_sgd_partial_batch": 100,     # 6 full batches of 16 and one of 4
    "ce_smoothing_adam": 90,         # 2 full batches of 32 and one of 26
    "cnn_ce_sgd": 100,               # 6 full batches of 16 and one of 4
    "batch_norm_ce_sgd": 100,        # 6 full batches of 16 and one of 4: statistics over n = 4 rows
}
# Not Adam with L1Loss: L1's sign-valued gradients can cancel to exactly 0 in one summation
# order and to 1e-9 in another, and Adam's first steps turn any nonzero gradient into a step
# of about lr, so that pair is not a fair parity test.


class Net(torch.nn.Module):
    """The generated program's parameter names: layers.<i>.weight / .bias."""

    def __init__(self, layers):
        super().__init__()
        self.layers = torch.nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


def build_layers(spec):
    model = spec["model"]
    (shape,) = model["inputs"].values()
    shape = list(shape)
    layers = []
    for i, layer in enumerate(model["layers"]):
        args = {k: v for k, v in layer.items() if k != "type"}
        t = layer["type"]
        if t == "Linear":
            check(len(shape) == 1, f"layers[{i}]: Linear on shape {shape}")
            args.setdefault("in_features", shape[0])
            layers.append(torch.nn.Linear(**args))
            shape = [args["out_features"]]
        elif t == "Flatten":
            check(not args, f"layers[{i}]: parity.py supports Flatten() with no arguments")
            layers.append(torch.nn.Flatten())
            shape = [math.prod(shape)]
        elif t in ("ReLU", "LeakyReLU", "GELU", "Tanh", "Sigmoid", "SiLU", "Identity"):
            layers.append(getattr(torch.nn, t)(**args))
        elif t in ("Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d",
                   "AdaptiveAvgPool2d"):
            if t.startswith("Conv"):
                args.setdefault("in_channels", shape[0])
            layer = getattr(torch.nn, t)(**args)  # torch takes lists where it takes tuples
            with torch.no_grad():
                shape = list(layer(torch.zeros(1, *shape)).shape[1:])
            layers.append(layer)
        elif t in ("BatchNorm1d", "BatchNorm2d"):
            args.setdefault("num_features", shape[0])  # momentum: null in the spec is None here
            layers.append(getattr(torch.nn, t)(**args))
        else:
            raise Failure(f"parity.py does not model layer type {t} (layers[{i}])")
    return layers


def make_data(spec, n, gen):
    """x ~ N(0, 1); targets from a random linear teacher so that there is something to learn."""
    model = spec["model"]
    (in_shape,) = model["inputs"].values()
    in_features = math.prod(in_shape)
    x = torch.randn(n, *in_shape, generator=gen)
    flat = x.reshape(n, in_features)
    target = model["target"]
    loss = model["loss"]["type"]
    if target.get("dtype") == "int64":
        k = target["num_classes"]
        teacher = torch.randn(in_features, k, generator=gen)
        y = (flat @ teacher + 0.5 * torch.randn(n, k, generator=gen)).argmax(dim=1)  # [N] int64
    else:
        t_shape = target["shape"]
        t = math.prod(t_shape)
        teacher = torch.randn(in_features, t, generator=gen) / math.sqrt(in_features)
        z = flat @ teacher + 0.1 * torch.randn(n, t, generator=gen)
        y = (z > 0).float() if loss == "BCEWithLogitsLoss" else z
        y = y.reshape(n, *t_shape)
    return x.float(), y


def make_optimizer(spec, params):
    o = dict(spec["optimizer"])
    kind = o.pop("type")
    if "betas" in o:
        o["betas"] = tuple(o["betas"])
    return getattr(torch.optim, kind)(params, **o)


def torch_losses(spec, net, x, y, total_steps):
    data = spec["data"]
    check(not data.get("shuffle", False), "parity specs must have data.shuffle=false")
    b = data["batch_size"]
    n = x.shape[0]
    per_epoch = n // b if data.get("drop_last", False) else math.ceil(n / b)
    loss_spec = dict(spec["model"]["loss"])
    loss_fn = getattr(torch.nn, loss_spec.pop("type"))(**loss_spec)
    opt = make_optimizer(spec, net.parameters())
    losses = []
    while len(losses) < total_steps:
        for i in range(per_epoch):
            if len(losses) == total_steps:
                break
            xb, yb = x[i * b:(i + 1) * b], y[i * b:(i + 1) * b]
            opt.zero_grad()
            loss = loss_fn(net(xb), yb)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses, per_epoch, opt


def run(args):
    with open(args.spec) as f:
        spec = json.load(f)
    case = os.path.splitext(os.path.basename(args.spec))[0]
    name = spec["name"]
    train = spec["data"]["train"]
    check(train["source"] == "npy", f"{args.spec}: parity specs use an npy training source")
    n = NUM_SAMPLES.get(case, 8 * spec["data"]["batch_size"])
    trainer = spec.get("trainer", {})
    max_epochs, max_steps = trainer.get("max_epochs", -1), trainer.get("max_steps", -1)

    os.makedirs(args.work, exist_ok=True)
    program = common.generate(args.ltgen, args.spec, os.path.join(args.work, name))

    # Data and initial weights.
    gen = torch.Generator().manual_seed(1234)
    torch.manual_seed(common.spec_seed(spec))
    x, y = make_data(spec, n, gen)
    x_path, y_path = os.path.join(args.work, "x.npy"), os.path.join(args.work, "y.npy")
    np.save(x_path, x.numpy())
    np.save(y_path, y.numpy())
    net = Net(build_layers(spec))
    init_path = os.path.join(args.work, "init.safetensors")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, init_path)
    print(f"data: x {tuple(x.shape)} {x.dtype}, y {tuple(y.shape)} {y.dtype}; "
          f"init weights: {', '.join(f'{k} {tuple(v.shape)}' for k, v in net.state_dict().items())}")

    # The generated program.
    root = os.path.join(args.work, "root")
    version, rows = common.fit_from(program, init_path, x_path, y_path, root)

    # The PyTorch loop.
    b = spec["data"]["batch_size"]
    per_epoch = n // b if spec["data"].get("drop_last", False) else math.ceil(n / b)
    total = math.inf if max_epochs in (None, -1) else max_epochs * per_epoch
    if max_steps not in (None, -1):
        total = min(total, max_steps)
    check(total != math.inf, "the spec trains forever")
    ref, per_epoch, opt = torch_losses(spec, net, x, y, int(total))

    # Per-step losses.
    common.check_step_losses(rows, ref, per_epoch, LOSS_RTOL)

    # Final weights.
    last_epoch = (len(ref) - 1) // per_epoch
    ckpt_name = f"epoch={last_epoch}-step={len(ref)}.safetensors"
    files = [f for f in common.checkpoint_files(version) if f != "last.safetensors"]
    check(files == [ckpt_name], f"checkpoints/ holds {files}, expected [{ckpt_name!r}]")
    ckpt = load_file(os.path.join(version, "checkpoints", ckpt_name))
    prefix = "state_dict."
    got_sd = {k[len(prefix):]: v for k, v in ckpt.items() if k.startswith(prefix)}
    want_sd = net.state_dict()
    check(sorted(got_sd) == sorted(want_sd),
          f"checkpoint weights {sorted(got_sd)}, torch's state_dict {sorted(want_sd)}")
    worst_w = (0.0, "")
    bad = []
    for k, want in want_sd.items():
        got = got_sd[k]
        check(got.dtype == want.dtype and got.shape == want.shape,
              f"checkpoint {prefix}{k}: {got.dtype} {tuple(got.shape)}, expected {want.dtype} {tuple(want.shape)}")
        if not want.is_floating_point():  # num_batches_tracked: the count of training steps
            check(torch.equal(got, want), f"checkpoint {prefix}{k}: {got.tolist()}, torch's {want.tolist()}")
            continue
        rel = ((got - want).abs().max() / want.abs().max().clamp_min(1e-30)).item()
        worst_w = max(worst_w, (rel, k))
        if rel > WEIGHT_RTOL:
            bad.append(f"  {k}: max |difference| / max |torch| = {rel:.3g}")
    print(f"weights: worst relative difference {worst_w[0]:.3g} ({worst_w[1]})")
    check(not bad, f"final weights differ by more than {WEIGHT_RTOL:g}:\n" + "\n".join(bad))
    fresh = Net(build_layers(spec))
    fresh.load_state_dict(got_sd, strict=True)

    # Optimizer slots: optimizer.<name>.<torch's state key> (exp_avg, momentum_buffer, ...).
    want_slots = {}
    for k, p in net.named_parameters():
        for slot, v in opt.state[p].items():
            if torch.is_tensor(v) and v.dim() > 0:
                want_slots[f"optimizer.{k}.{slot}"] = v
    got_slots = sorted(k for k in ckpt if k.startswith("optimizer."))
    check(got_slots == sorted(want_slots),
          f"checkpoint optimizer slots {got_slots}, torch's optimizer state {sorted(want_slots)}")
    worst_s = (0.0, "")
    bad = []
    for k, want in want_slots.items():
        got = ckpt[k]
        check(got.shape == want.shape, f"checkpoint {k}: shape {tuple(got.shape)}, expected {tuple(want.shape)}")
        rel = ((got - want).abs().max() / want.abs().max().clamp_min(1e-30)).item()
        worst_s = max(worst_s, (rel, k))
        if rel > SLOT_RTOL:
            bad.append(f"  {k}: max |difference| / max |torch| = {rel:.3g}")
    if want_slots:
        print(f"optimizer slots: worst relative difference {worst_s[0]:.3g} ({worst_s[1]})")
    check(not bad, f"optimizer slots differ by more than {SLOT_RTOL:g}:\n" + "\n".join(bad))

    # NAdam's mu_product and ASGD's eta: a float32 per parameter, the same in a group; the checkpoint
    # keeps each group's in its 'optimizer' metadata. Exactly torch's (the same float32 arithmetic).
    for key in ("mu_product", "eta"):
        values = []  # per group: the set of its parameters' values (one value)
        for group in opt.param_groups:
            values.append(sorted({opt.state[p][key].item() for p in group["params"] if key in opt.state[p]}))
        if any(values):
            with safe_open(os.path.join(version, "checkpoints", ckpt_name), "pt") as f:
                saved = json.loads(f.metadata()["optimizer"]).get(key)
            check(saved is not None and [[v] for v in saved] == values,
                  f"checkpoint {key} {saved}, torch's per group {values}")
            print(f"{key}: {saved} (torch's exactly)")

    # Buffers and an optimizer's per-group scalars (ASGD's eta) are state to resume: one epoch, then
    # resumed from its checkpoint to the end, must give the uninterrupted run's checkpoint bit for
    # bit (running stats and counts included).
    if any(l["type"].startswith("BatchNorm") for l in spec["model"]["layers"]) or spec["optimizer"]["type"] == "ASGD":
        check(last_epoch >= 1, "the resume check needs two epochs or more")
        root2 = os.path.join(args.work, "root_resume")
        shutil.rmtree(root2, ignore_errors=True)
        common_args = [f"--init_weights={init_path}", f"--data.train.x={x_path}", f"--data.train.y={y_path}",
                       "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={root2}"]
        rc, out, err = common.run_program(program, ["fit", "--trainer.max_epochs=1"] + common_args)
        check(rc == 0, f"{program} (one epoch) exited with {rc}: {err}")
        first = os.path.join(root2, "lightning_logs", "version_0", "checkpoints",
                             f"epoch=0-step={per_epoch}.safetensors")
        check(os.path.isfile(first), f"{first} was not written")
        rc, out, err = common.run_program(program, ["fit", f"--ckpt_path={first}"] + common_args)
        check(rc == 0, f"{program} (resumed) exited with {rc}: {err}")
        resumed = load_file(os.path.join(root2, "lightning_logs", "version_1", "checkpoints", ckpt_name))
        state = [k for k in ckpt if k.startswith(prefix)]
        differ = [k for k in ckpt if not torch.equal(ckpt[k], resumed[k])]
        check(sorted(resumed) == sorted(ckpt), f"resumed checkpoint tensors {sorted(resumed)}")
        check(not differ, f"resumed after epoch 0, these differ from the uninterrupted run: {differ}")
        print(f"resume: epoch 0 + resumed == uninterrupted for all {len(ckpt)} tensors "
              f"({len(state)} in state_dict, buffers included)")
        with safe_open(os.path.join(root2, "lightning_logs", "version_1", "checkpoints", ckpt_name), "pt") as f:
            resumed_meta = json.loads(f.metadata()["optimizer"])
        with safe_open(os.path.join(version, "checkpoints", ckpt_name), "pt") as f:
            check(resumed_meta == json.loads(f.metadata()["optimizer"]),
                  f"resumed after epoch 0, the optimizer's metadata {resumed_meta} differs from the uninterrupted run's")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ltgen", required=True)
    p.add_argument("--work", required=True, help="folder for the generated project, the data and the run")
    p.add_argument("spec")
    args = p.parse_args()
    torch.set_num_threads(1)
    common.main(lambda: run(args))
