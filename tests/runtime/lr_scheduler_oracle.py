#!/usr/bin/env python3
"""ltrt's LR schedulers against torch.optim.lr_scheduler.

For each case of CASES, builds torch's scheduler on a one-group SGD optimizer
and records the lr after construction and after each of `steps` step() calls;
MOMENTUM_CASES also record the momentum or beta1 that OneCycleLR cycles.
Without --driver, prints those sequences as JSON. With --driver, feeds the
cases to lr_scheduler_oracle_driver (ltrt's side; it also resumes each case
from a state() saved mid-run) and compares every value within 1e-12 relative;
exit status 1 on any mismatch.

torch 1.13 (Debian's python3-torch) is what the test normally runs against;
torch 2.x computes the same sequences for these cases (see lr_scheduler.cpp).
"""
import argparse
import json
import math
import subprocess
import sys
import warnings

import torch
from torch.optim import lr_scheduler as S

STEPS = 40
RTOL = 1e-12


def plateau_metrics(kind, n):
    """Deterministic metric sequences that improve, stall and wobble."""
    out = []
    for t in range(n):
        if kind == "loss":  # falls, then plateaus with small noise, then falls again
            v = 1.0 / (1 + t) if t < 8 else (0.125 + 0.001 * math.sin(t) if t < 28 else 0.1 - 0.001 * t)
        else:  # accuracy: rises, stalls, tiny gains below an abs threshold
            v = min(0.5 + 0.05 * t, 0.8) + 0.0001 * (t % 3)
        out.append(v)
    return out


def seq(*subs, milestones):
    return {"type": "SequentialLR", "args": {"schedulers": list(subs), "milestones": milestones}}


def chain(*subs):
    return {"type": "ChainedScheduler", "args": {"schedulers": list(subs)}}


def sub(type_, **args):
    return dict(type=type_, **args)


CASES = [
    # name, base_lr, spec
    ("step_3_half", 0.1, {"type": "StepLR", "args": {"step_size": 3, "gamma": 0.5}}),
    ("step_7_default", 0.05, {"type": "StepLR", "args": {"step_size": 7}}),
    ("multistep_dupes", 0.1, {"type": "MultiStepLR", "args": {"milestones": [5, 12, 12, 30], "gamma": 0.3}}),
    ("multistep_default", 1.0, {"type": "MultiStepLR", "args": {"milestones": [10, 20]}}),
    ("exponential", 0.1, {"type": "ExponentialLR", "args": {"gamma": 0.93}}),
    ("cosine_10_wraps", 0.1, {"type": "CosineAnnealingLR", "args": {"T_max": 10, "eta_min": 0.001}}),
    ("cosine_40", 0.003, {"type": "CosineAnnealingLR", "args": {"T_max": 40}}),
    ("cosine_7", 1.0, {"type": "CosineAnnealingLR", "args": {"T_max": 7, "eta_min": 0.0}}),
    ("linear_default", 0.1, {"type": "LinearLR", "args": {}}),
    ("linear_warmup_25", 0.05, {"type": "LinearLR", "args": {"start_factor": 0.1, "total_iters": 25}}),
    ("linear_decay_30", 0.1, {"type": "LinearLR", "args": {"start_factor": 1.0, "end_factor": 0.2, "total_iters": 30}}),
    ("linear_to_zero", 0.1, {"type": "LinearLR", "args": {"start_factor": 0.5, "end_factor": 0.0, "total_iters": 10}}),
    ("constant_default", 0.1, {"type": "ConstantLR", "args": {}}),
    ("constant_half_12", 0.07, {"type": "ConstantLR", "args": {"factor": 0.5, "total_iters": 12}}),
    ("onecycle_cos_40", 0.01, {"type": "OneCycleLR", "args": {"max_lr": 0.1, "total_steps": 40, "cycle_momentum": False}}),
    ("onecycle_linear_3phase", 0.01, {"type": "OneCycleLR", "args": {
        "max_lr": 0.5, "total_steps": 50, "pct_start": 0.25, "anneal_strategy": "linear",
        "three_phase": True, "cycle_momentum": False}}),
    ("onecycle_epochs", 0.01, {"type": "OneCycleLR", "args": {
        "max_lr": 0.2, "epochs": 4, "steps_per_epoch": 11, "div_factor": 10.0, "final_div_factor": 100.0,
        "cycle_momentum": False}}),
    ("onecycle_cos_3phase", 0.01, {"type": "OneCycleLR", "args": {
        "max_lr": 0.3, "total_steps": 45, "pct_start": 0.4, "three_phase": True, "cycle_momentum": False}}),
    ("warm_restarts_7", 0.1, {"type": "CosineAnnealingWarmRestarts", "args": {"T_0": 7}}),
    ("warm_restarts_mult2", 0.1, {"type": "CosineAnnealingWarmRestarts", "args": {"T_0": 3, "T_mult": 2, "eta_min": 0.01}}),
    ("seq_warmup_cosine", 0.1, seq(sub("LinearLR", start_factor=0.1, total_iters=5),
                                   sub("CosineAnnealingLR", T_max=30), milestones=[5])),
    ("seq_constant_exp", 1.0, seq(sub("ConstantLR", factor=0.1, total_iters=2),
                                  sub("ExponentialLR", gamma=0.9), milestones=[2])),
    ("seq_three", 0.1, seq(sub("LinearLR", total_iters=4), sub("StepLR", step_size=3, gamma=0.7),
                           sub("CosineAnnealingWarmRestarts", T_0=6, eta_min=0.001), milestones=[4, 15])),
    ("seq_linear_onecycle", 0.1, seq(sub("LinearLR", start_factor=0.2, total_iters=8),
                                     sub("OneCycleLR", max_lr=0.5, total_steps=40, cycle_momentum=False),
                                     milestones=[8])),
    ("seq_onecycle_exp", 0.1, seq(sub("OneCycleLR", max_lr=1.0, total_steps=20, cycle_momentum=False),
                                  sub("ExponentialLR", gamma=0.9), milestones=[20])),
    ("seq_cosine_multistep", 0.1, seq(sub("CosineAnnealingLR", T_max=5, eta_min=0.01),
                                      sub("MultiStepLR", milestones=[0, 3, 6], gamma=0.5), milestones=[10])),
    ("seq_cosine_cosine", 0.2, seq(sub("CosineAnnealingLR", T_max=12), sub("CosineAnnealingLR", T_max=9, eta_min=0.01),
                                   milestones=[12])),
    ("seq_step_constant_linear", 0.1, seq(sub("StepLR", step_size=2), sub("ConstantLR", factor=0.25, total_iters=4),
                                          sub("LinearLR", start_factor=0.5, end_factor=0.1, total_iters=6),
                                          milestones=[6, 20])),
    ("polynomial_default", 0.1, {"type": "PolynomialLR", "args": {}}),
    ("polynomial_30_squared", 0.05, {"type": "PolynomialLR", "args": {"total_iters": 30, "power": 2.0}}),
    ("polynomial_12_sqrt", 1.0, {"type": "PolynomialLR", "args": {"total_iters": 12, "power": 0.5}}),
    ("seq_linear_polynomial", 0.1, seq(sub("LinearLR", start_factor=0.2, total_iters=4),
                                       sub("PolynomialLR", total_iters=20, power=1.5), milestones=[5])),
    ("chain_constant_exponential", 0.1, chain(sub("ConstantLR", factor=0.5, total_iters=6),
                                              sub("ExponentialLR", gamma=0.95))),
    ("chain_linear_cosine", 0.2, chain(sub("LinearLR", start_factor=0.1, total_iters=8),
                                       sub("CosineAnnealingLR", T_max=15, eta_min=0.001))),
    ("chain_polynomial_step_multistep", 0.3, chain(sub("PolynomialLR", total_iters=25, power=0.8),
                                                   sub("StepLR", step_size=5, gamma=0.7),
                                                   sub("MultiStepLR", milestones=[10, 30], gamma=0.5))),
    ("cyclic_triangular", 0.1, {"type": "CyclicLR", "args": {
        "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 5, "cycle_momentum": False}}),
    ("cyclic_triangular2_asym", 0.1, {"type": "CyclicLR", "args": {
        "base_lr": 0.02, "max_lr": 0.2, "step_size_up": 4, "step_size_down": 7, "mode": "triangular2",
        "cycle_momentum": False}}),
    ("cyclic_exp_range", 0.1, {"type": "CyclicLR", "args": {
        "base_lr": 0.001, "max_lr": 0.05, "step_size_up": 6, "mode": "exp_range", "gamma": 0.97,
        "cycle_momentum": False}}),
    ("cyclic_scale_fn_cycle", 0.1, {"type": "CyclicLR", "args": {
        "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "step_size_down": 2, "cycle_momentum": False,
        "scale_fn": "lambda c: 1 / c if c % 2 else 0.75 ** c"}}),
    ("cyclic_scale_fn_iterations", 0.1, {"type": "CyclicLR", "args": {
        "base_lr": 0.02, "max_lr": 0.2, "step_size_up": 4, "cycle_momentum": False,
        "scale_fn": "lambda it: math.exp(-it / 20)", "scale_mode": "iterations"}}),
    ("seq_constant_cyclic", 0.1, seq(sub("ConstantLR", factor=0.5, total_iters=4),
                                     sub("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=3, cycle_momentum=False),
                                     milestones=[8])),
    ("chain_exponential_cyclic", 0.1, chain(sub("ExponentialLR", gamma=0.9),
                                            sub("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=3,
                                                cycle_momentum=False))),
    # LambdaLR and MultiplicativeLR: lr_lambda a Python lambda as text (ltrt/python_lambda.hpp),
    # which build() evaluates with Python's eval for torch.
    ("lambda_warmup", 0.1, {"type": "LambdaLR", "args": {"lr_lambda": "lambda step: min(1.0, (step + 1) / 10)"}}),
    ("lambda_exponential", 0.1, {"type": "LambdaLR", "args": {"lr_lambda": "lambda epoch: 0.95 ** epoch"}}),
    ("lambda_warmup_cosine", 0.1, {"type": "LambdaLR", "args": {
        "lr_lambda": "lambda s: (s + 1) / 8 if s < 8 else 0.5 * (1 + math.cos(math.pi * (s - 8) / 32))"}}),
    ("lambda_int_result", 0.01, {"type": "LambdaLR", "args": {"lr_lambda": "lambda e: e // 10 + 1"}}),
    ("lambda_int_ops", 1.0, {"type": "LambdaLR", "args": {
        "lr_lambda": "lambda e: (e // 3 % 4 + 1) / 2 ** (e // 10) + abs(-e) * 0 + 2 ** -(e // 13)"}}),
    ("lambda_math", 0.05, {"type": "LambdaLR", "args": {
        "lr_lambda": "lambda t: max(0.1, 1 - math.log(t + 1) / math.log(50)) + math.sqrt(t) * 1e-3"
                     " - round(t / 7) * 1e-4 + math.floor(t / 3.5) * 1e-5 + math.exp(-t) + math.log(t + 2, 3) * 1e-6"}}),
    ("lambda_float_floor_mod", 0.1, {"type": "LambdaLR", "args": {
        "lr_lambda": "lambda e: ((e - 20) // 3.5 % 2.5 + 3) / 5 + (-e) % 7 * 1e-3 + float(e) ** 0.5 * 1e-4"}}),
    ("lambda_logic", 0.1, {"type": "LambdaLR", "args": {
        "lr_lambda": "lambda e: (1.0 if e < 10 and e % 2 == 0 or e > 30 else 0.5) * (2 if 5 <= e < 15 else 1)"
                     " + (not e) * 0.25 + (e > 3 and 0.125 or 0.0625) + min(e, 2.5, 2) * 0.01"}}),
    ("lambda_trig", 0.2, {"type": "LambdaLR", "args": {
        "lr_lambda": "lambda x: 1 + 0.1 * math.sin(x) * math.tanh(x / 5) - 0.05 * math.atan(x) + math.fabs(math.tan(x)) * 1e-6"
                     " + math.log2(x + 1) * 1e-3 + math.log10(x + 1) * 1e-3 + math.ceil(x / 4) * 1e-4 + int(x / 3) * 1e-5"
                     " + math.pow(1.01, x) * 1e-3 + math.radians(x) * 1e-4 + math.e * 1e-7 + math.tau * 1e-8"}}),
    ("multiplicative", 0.1, {"type": "MultiplicativeLR", "args": {"lr_lambda": "lambda epoch: 0.97"}}),
    ("multiplicative_varying", 0.1, {"type": "MultiplicativeLR", "args": {
        "lr_lambda": "lambda e: 0.9 if e % 5 == 0 else 1.01"}}),
    ("seq_lambda_cosine", 0.1, seq(sub("LambdaLR", lr_lambda="lambda s: (s + 1) / 5"),
                                   sub("CosineAnnealingLR", T_max=20), milestones=[5])),
    # (A MultiplicativeLR after a SequentialLR milestone: torch 1.13 and 2.x differ there, and
    # ltgen follows 2.x; lightning_multiplicative_lr_sequential checks it against Lightning's torch.)
    ("seq_linear_lambda", 0.1, seq(sub("LinearLR", start_factor=0.25, total_iters=6),
                                   sub("LambdaLR", lr_lambda="lambda e: 0.5 ** (e // 5)"), milestones=[6])),
    ("chain_lambda_multiplicative", 0.1, chain(sub("LambdaLR", lr_lambda="lambda s: min(1, (s + 1) / 6)"),
                                               sub("MultiplicativeLR", lr_lambda="lambda s: 0.98"))),
    ("plateau_min_rel", 0.1, {"type": "ReduceLROnPlateau", "args": {
        "patience": 3, "cooldown": 2, "factor": 0.5, "min_lr": 0.01}}, "loss"),
    ("plateau_max_abs", 0.1, {"type": "ReduceLROnPlateau", "args": {
        "mode": "max", "threshold_mode": "abs", "threshold": 0.01, "patience": 0, "factor": 0.7}}, "acc"),
    ("plateau_eps_stops", 0.001, {"type": "ReduceLROnPlateau", "args": {
        "patience": 1, "factor": 0.5, "eps": 1e-4}}, "loss"),
    ("plateau_defaults", 0.3, {"type": "ReduceLROnPlateau", "args": {}}, "loss"),
]


# OneCycleLR cycling the optimizer's momentum (torch's default cycle_momentum=True): name, base_lr,
# spec, optimizer ("SGD" with its momentum, or "Adam": betas[0] cycles). Compared: the lr and the
# momentum after construction and after each step.
MOMENTUM_CASES = [
    ("onecycle_adam_momentum", 0.01, {"type": "OneCycleLR", "args": {"max_lr": 0.1, "total_steps": 40}}, "Adam", 0.0),
    ("onecycle_sgd_momentum_linear", 0.01, {"type": "OneCycleLR", "args": {
        "max_lr": 0.5, "total_steps": 40, "anneal_strategy": "linear", "base_momentum": 0.8, "max_momentum": 0.9}},
     "SGD", 0.5),
    ("onecycle_adam_momentum_3phase", 0.01, {"type": "OneCycleLR", "args": {
        "max_lr": 0.2, "total_steps": 40, "three_phase": True, "pct_start": 0.25}}, "Adam", 0.0),
    ("cyclic_sgd_momentum", 0.1, {"type": "CyclicLR", "args": {
        "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 5, "step_size_down": 3, "base_momentum": 0.85}}, "SGD", 0.9),
    ("cyclic_sgd_momentum_scale_fn", 0.1, {"type": "CyclicLR", "args": {
        "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 5, "scale_fn": "lambda c: 0.5 ** (c - 1)"}}, "SGD", 0.9),
    ("cyclic_sgd_momentum_exp_range", 0.1, {"type": "CyclicLR", "args": {
        "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4, "mode": "exp_range", "gamma": 0.95}}, "SGD", 0.5),
    ("chain_onecycle_constant_momentum", 0.01, chain(sub("OneCycleLR", max_lr=0.4, total_steps=40),
                                                     sub("ConstantLR", factor=0.5, total_iters=10)), "Adam", 0.0),
    ("seq_linear_onecycle_momentum", 0.1, seq(sub("LinearLR", start_factor=0.5, total_iters=5),
                                              sub("OneCycleLR", max_lr=0.3, total_steps=34), milestones=[6]),
     "SGD", 0.9),
]


def build(opt, spec):
    t, args = spec["type"], dict(spec["args"])
    if t in ("LambdaLR", "MultiplicativeLR"):  # the lambda's text, as Python code
        args["lr_lambda"] = eval(args["lr_lambda"], {"math": math})
    if t == "CyclicLR" and "scale_fn" in args:
        args["scale_fn"] = eval(args["scale_fn"], {"math": math})
    if t == "SequentialLR":
        subs = [build(opt, {"type": s["type"], "args": {k: v for k, v in s.items() if k != "type"}})
                for s in args["schedulers"]]
        return S.SequentialLR(opt, schedulers=subs, milestones=args["milestones"])
    if t == "ChainedScheduler":
        return S.ChainedScheduler([build(opt, {"type": s["type"], "args": {k: v for k, v in s.items() if k != "type"}})
                                   for s in args["schedulers"]])
    return getattr(S, t)(opt, **args)


def torch_sequence(base_lr, spec, metrics, optimizer=None):
    """The lrs after construction and each step; with `optimizer` ({"betas": bool, "momentum": m}),
    also the momentum (SGD) or betas[0] (Adam) after each: [lrs, momentums]."""
    p = torch.nn.Parameter(torch.zeros(1))
    if optimizer is None or not optimizer["betas"]:
        opt = torch.optim.SGD([p], lr=base_lr, momentum=optimizer["momentum"] if optimizer else 0)
    else:
        opt = torch.optim.Adam([p], lr=base_lr)
    sched = build(opt, spec)

    def momentum():
        g = opt.param_groups[0]
        return g["betas"][0] if "betas" in g else g["momentum"]

    lrs, momentums = [opt.param_groups[0]["lr"]], [momentum()]
    for t in range(STEPS):
        p.grad = torch.zeros(1)
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[t])
        lrs.append(opt.param_groups[0]["lr"])
        momentums.append(momentum())
    return lrs if optimizer is None else [lrs, momentums]


def cases_json():
    out = []
    for case in CASES:
        name, base_lr, spec = case[:3]
        metrics = plateau_metrics(case[3], STEPS) if len(case) > 3 else None
        out.append({"name": name, "base_lr": base_lr, "type": spec["type"], "args": spec["args"],
                    "steps": STEPS, "resume_at": 17, "metrics": metrics})
    for name, base_lr, spec, kind, momentum in MOMENTUM_CASES:
        out.append({"name": name, "base_lr": base_lr, "type": spec["type"], "args": spec["args"],
                    "steps": STEPS, "resume_at": 17, "metrics": None,
                    "optimizer": {"betas": kind == "Adam", "momentum": momentum}})
    return out


def close(a, b):
    return a == b or abs(a - b) <= RTOL * max(abs(a), abs(b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", help="lr_scheduler_oracle_driver to compare against")
    opts = ap.parse_args()
    warnings.simplefilter("ignore")  # epoch-deprecation and step-order warnings

    cases = cases_json()
    want, want_momentum = {}, {}
    for c in cases:
        seqs = torch_sequence(c["base_lr"], c, c["metrics"], c.get("optimizer"))
        if "optimizer" in c:
            want[c["name"]], want_momentum[c["name"]] = seqs
        else:
            want[c["name"]] = seqs
    if not opts.driver:
        json.dump(want, sys.stdout, indent=1)
        print()
        return 0

    proc = subprocess.run([opts.driver], input=json.dumps({"cases": cases}), capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stdout + proc.stderr, file=sys.stderr)
        print(f"driver failed with status {proc.returncode}", file=sys.stderr)
        return 1
    got = json.loads(proc.stdout)
    bad = 0
    worst = 0.0
    for c in cases:
        name = c["name"]
        for kind in ("lrs", "resumed", "momentums", "resumed_momentums"):
            if kind.endswith("momentums") and name not in want_momentum:
                continue
            g = got.get(name, {}).get(kind)
            w = want_momentum[name] if kind.endswith("momentums") else want[name]
            if g is None or len(g) != len(w):
                print(f"{name} ({kind}): expected {len(w)} values, got {None if g is None else len(g)}")
                bad += 1
                continue
            for i, (a, b) in enumerate(zip(g, w)):
                if a != b:
                    worst = max(worst, abs(a - b) / max(abs(a), abs(b)))
                if not close(a, b):
                    print(f"{name} ({kind}) step {i}: ltrt {a!r} torch {b!r}")
                    bad += 1
                    break
    exact = sum(1 for c in cases if got[c["name"]]["lrs"] == want[c["name"]])
    print(f"torch {torch.__version__}: {len(cases)} cases x {STEPS + 1} lrs (plain and resumed at step 17; "
          f"{len(want_momentum)} with their momentums), "
          f"{exact} bit-identical, worst relative difference {worst:.3g}, {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
