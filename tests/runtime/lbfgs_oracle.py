#!/usr/bin/env python3
"""ltrt::lbfgs_step (ltrt/lbfgs.hpp) against torch.optim.LBFGS itself, on smooth float32 objectives
that both sides compute in the same float32 operations (lbfgs_driver.cpp): a weighted quadratic, a
coupling of neighbours and a quartic term, for 2 to 200 parameters, with the fixed step and the
strong-Wolfe line search, short and full histories, max_iter, max_eval and the tolerances cutting steps
short, maximize (the objective negated), and several steps that carry the state on.

torch's dot products are BLAS sdots (MKL's order), which ltrt sums in double and rounds once. Run once
with Tensor.dot replaced by that same sum, every closure evaluation's loss, the final parameters and
the evaluation counts must be torch's bit for bit: everything but the dots follows torch exactly (its
float32 tensors and Python floats, fused adds, reciprocals). Run again with torch's own dot, the final
parameters and last loss must agree to 1e-4 (near a minimum a dot's rounding can move a stopping test
by an iteration, so the counts may differ). Run with the Lightning
venv's Python (PyPI's torch).
"""
import argparse
import json
import subprocess
import sys

import numpy as np
import torch


def f32_bits(v):
    return int(np.array([v], dtype=np.float32).view(np.uint32)[0])


def sequential_dot(a, b):
    """a . b summed in order in double, rounded once to float32 (lbfgs.cpp's dot)."""
    s = 0.0
    for u, v in zip(a.tolist(), b.tolist()):
        s += u * v
    return torch.tensor(s, dtype=torch.float32)


def make_cases(rng):
    base = {"lr": 1.0, "max_iter": 20, "max_eval": 25, "tolerance_grad": 1e-7, "tolerance_change": 1e-9,
            "history_size": 100, "strong_wolfe": False}
    variants = [
        ({}, 3),
        ({"lr": 0.3, "max_iter": 5, "max_eval": 6, "history_size": 2}, 4),
        ({"strong_wolfe": True}, 2),
        ({"strong_wolfe": True, "history_size": 3, "max_iter": 10, "max_eval": 8}, 3),
        ({"strong_wolfe": True, "lr": 0.05, "max_iter": 4, "max_eval": 5}, 3),
        ({"tolerance_grad": 1e-2, "tolerance_change": 1e-4}, 3),
        ({"strong_wolfe": True, "tolerance_grad": 1e-3, "tolerance_change": 1e-5}, 3),
        ({"tolerance_grad": 1e3}, 2),  # optimal at the first evaluation: nothing moves
        ({"max_iter": 1, "max_eval": 1}, 5),
        ({"lr": 2.0, "max_iter": 3, "max_eval": 3, "history_size": 1}, 4),
    ]
    cases = []
    for n in (2, 5, 17, 64, 200):
        for i, (over, steps) in enumerate(variants):
            args = dict(base, **over)
            cases.append({
                "a": [float(v) for v in rng.uniform(0.5, 3.0, n).astype(np.float32)],
                "c": [float(v) for v in rng.standard_normal(n).astype(np.float32)],
                "k": float(rng.choice([0.0, 0.5, 2.0])),
                "e": float(rng.choice([0.0, 0.01, 0.1])),
                "x0": [float(v) for v in (2 * rng.standard_normal(n)).astype(np.float32)],
                "maximize": bool(i % 3 == 1),
                "args": args,
                "steps": steps,
            })
    return cases


def run_torch(case):
    """torch's LBFGS on the case's objective: each closure's loss (float32 bits), the final parameters."""
    a = torch.tensor(case["a"], dtype=torch.float32)
    c = torch.tensor(case["c"], dtype=torch.float32)
    k, e = case["k"], case["e"]
    sign = -1.0 if case["maximize"] else 1.0
    x = torch.tensor(case["x0"], dtype=torch.float32, requires_grad=True)
    o = case["args"]
    opt = torch.optim.LBFGS([x], lr=o["lr"], max_iter=o["max_iter"], max_eval=o["max_eval"],
                            tolerance_grad=o["tolerance_grad"], tolerance_change=o["tolerance_change"],
                            history_size=o["history_size"], line_search_fn="strong_wolfe" if o["strong_wolfe"] else None,
                            maximize=case["maximize"])
    losses = []

    def closure():
        with torch.no_grad():
            au = a * (x - c)
            x2 = x * x
            q = au * (x - c)
            quart = (x2 * e) * x2
            diff = x[1:] - x[:-1]
            dk = diff * k
            w = dk * diff
            g = au * 2.0
            g = g + (x2 * (4.0 * e)) * x
            gd = dk * 2.0
            g[1:] = g[1:] + gd
            g[:-1] = g[:-1] - gd
            s = 0.0
            for part in (q, w, quart):
                for v in part.tolist():
                    s += v
            loss = torch.tensor(s, dtype=torch.float32)
            if sign < 0:
                loss, g = -loss, -g
            x.grad = g.clone()
        losses.append(f32_bits(loss.item()))
        return loss

    for _ in range(case["steps"]):
        opt.step(closure)
    state = opt.state[x]
    params = [int(v) for v in x.detach().numpy().view(np.uint32)]
    return {"losses": losses, "params": params, "func_evals": state.get("func_evals", 0), "n_iter": state.get("n_iter", 0)}


def as_floats(bits):
    return np.array(bits, dtype=np.uint32).view(np.float32)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--driver", required=True)
    args = p.parse_args()
    torch.set_num_threads(1)
    cases = make_cases(np.random.default_rng(7))
    proc = subprocess.run([args.driver], input=json.dumps({"cases": cases}), capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        print(f"FAILED: the driver exited with {proc.returncode}:\n{proc.stderr}")
        return 1
    ours = json.loads(proc.stdout)

    bad = 0
    torch_dot = torch.Tensor.dot
    evaluations = 0
    worst, iterations_apart = 0.0, 0
    for mode in ("the same dot", "torch's dot"):
        torch.Tensor.dot = sequential_dot if mode == "the same dot" else torch_dot
        for i, (case, mine) in enumerate(zip(cases, ours)):
            want = run_torch(case)
            what = f"case {i} (n {len(case['x0'])}, {case['args']}, maximize {case['maximize']}, {case['steps']} steps)"
            same_counts = (len(mine["losses"]) == len(want["losses"]) and mine["func_evals"] == want["func_evals"]
                           and mine["n_iter"] == want["n_iter"])
            if mode == "torch's dot":
                # Near a minimum a dot's rounding can move a stopping test by an iteration: the end agrees.
                mp, wp = as_floats(mine["params"]).astype(np.float64), as_floats(want["params"]).astype(np.float64)
                ml, wl = float(as_floats(mine["losses"][-1:])[0]), float(as_floats(want["losses"][-1:])[0])
                param_err = np.max(np.abs(mp - wp))
                loss_err = abs(ml - wl) / max(abs(wl), 1e-3)
                worst = max(worst, param_err, loss_err)
                if not (param_err <= 1e-4 and loss_err <= 1e-4):
                    bad += 1
                    print(f"{mode}: {what}: final parameters {param_err:.2e} apart, last loss {loss_err:.2e} (relative)")
                iterations_apart += not same_counts
                continue
            if not same_counts:
                bad += 1
                print(f"{mode}: {what}: {len(mine['losses'])} evaluations (func_evals {mine['func_evals']}, n_iter "
                      f"{mine['n_iter']}), torch {len(want['losses'])} ({want['func_evals']}, {want['n_iter']})")
                continue
            evaluations += len(want["losses"])
            if mine["losses"] != want["losses"] or mine["params"] != want["params"]:
                bad += 1
                first = next((j for j, (u, v) in enumerate(zip(mine["losses"], want["losses"])) if u != v), None)
                print(f"{mode}: {what}: not bit for bit (first loss apart: evaluation {first}); losses "
                      f"{as_floats(mine['losses'])[:6]} vs {as_floats(want['losses'])[:6]}")
    torch.Tensor.dot = torch_dot
    print(f"the same dot: {len(cases)} cases, {evaluations} closure evaluations bit for bit")
    print(f"torch's dot: {len(cases)} cases end within {worst:.1e} ({iterations_apart} stopped an iteration apart)")
    print("FAILED" if bad else "PASSED")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
