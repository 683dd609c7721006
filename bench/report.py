#!/usr/bin/env python3
"""Turns bench/run.sh's raw results (a folder) into the markdown report on stdout."""
import json
import os
import statistics
import sys

out = sys.argv[1]
machine = dict(line.rstrip("\n").split("=", 1) for line in open(os.path.join(out, "machine.txt")) if "=" in line)
raw = [json.loads(line) for line in open(os.path.join(out, "raw.jsonl")) if line.strip()]


def gbench(name, threads):
    """{benchmark name: (median real ns over repetitions, counters of the median run)}"""
    path = os.path.join(out, f"{name}-{threads}.json")
    if not os.path.exists(path):
        return {}
    runs = {}
    for b in json.load(open(path))["benchmarks"]:
        if b.get("run_type") == "iteration" and "error_occurred" not in b:
            runs.setdefault(b["run_name"], []).append(b)
    res = {}
    for name_, bs in runs.items():
        bs.sort(key=lambda b: b["real_time"])
        mid = bs[len(bs) // 2]
        res[name_] = (statistics.median(b["real_time"] for b in bs) / 1e3, mid, len(bs))
    return res


def by_label(label, **match):
    return [r for r in raw if r.get("label") == label and all(r.get(k) == v for k, v in match.items())]


def proc_us(label):
    rs = by_label(label)
    return statistics.median(rs[0]["runs_us"]) if rs else None


def fmt_us(us):
    if us is None:
        return "-"
    if us < 10:
        return f"{us:.3f} us"
    if us < 1000:
        return f"{us:.1f} us"
    if us < 1e6:
        return f"{us / 1e3:.3f} ms"
    return f"{us / 1e6:.2f} s"


def ratio(peer, gen):
    return "-" if peer is None or gen is None else f"{peer / gen:.2f}x" if peer / gen < 10 else f"{peer / gen:.0f}x"


peak = None
for t in (1,):
    g = gbench("handwritten", 1)
    if "BM_fma_peak/real_time" in g:
        peak = g["BM_fma_peak/real_time"][1]["FLOP/s"]

print("## Results\n")
print(f"Load average before / after the run: {machine.get('load_before')} / {machine.get('load_after')} "
      f"(2 cores). {machine.get('env_note', '')}.\n")
loads = [float(line.split()[0]) for line in open(os.path.join(out, "load.log"))] if os.path.exists(
    os.path.join(out, "load.log")) else []
if loads:
    print(f"1-minute load average at each of the {len(loads)} steps of the run: median {statistics.median(loads):.2f}, "
          f"max {max(loads):.2f} (other processes on the 2 cores make steps slower; see load.log).\n")
if peak:
    print(f"Measured one-core fp32 FMA peak (BM_fma_peak): {peak / 1e9:.0f} GFLOP/s.\n")

cases = [("linear", "(a) specs/linear.json: Linear 10->1, MSELoss, Adam, batch 32"),
         ("mlp", "(b) specs/mlp.json: MLP 784-256-256-10, CrossEntropyLoss, SGD(momentum), batch 128"),
         ("cnn", "(c) bench/specs/cnn_bench.json: Conv2d 1->16, BN, ReLU, MaxPool, Conv2d 16->32, BN, ReLU, "
                 "MaxPool, Linear 1568->10 on 1x28x28, CrossEntropyLoss, SGD(momentum), batch 64"),
         ("gpt", "(d) bench/specs/gpt_char_bench.json: char GPT, 4 layers, 4 heads, width 128, context 64, "
                 "tied head, AdamW, batch 32 (random tokens)")]
for case, title in cases:
    print(f"### {title}\n")
    print("Median time per step (wall clock); ratio = that time / the generated step's time "
          "(how many times faster the generated step is).\n")
    print("| implementation | 1 thread | ratio | 2 threads | ratio |")
    print("| --- | --- | --- | --- | --- |")
    gen = {}
    rows = []
    for t in (1, 2):
        g = gbench("ltgen_bench", t).get(f"BM_generated/{case}/threads:{t}/real_time")
        gen[t] = g[0] if g else None
    extra = {}
    for t in (1, 2):
        g = gbench("ltgen_bench", t).get(f"BM_generated/{case}/threads:{t}/real_time")
        if g:
            c = g[1]
            extra[t] = (f"{c['FLOP/s'] / 1e9:.1f} GFLOP/s" + (f" = {100 * c['FLOP/s'] / peak:.0f}% of peak" if peak else "")
                        + f", allocs in loop: {int(c['allocs'])} ({g[2]} reps)")

    def row(name, vals):
        cells = []
        for t in (1, 2):
            v = vals.get(t)
            cells += [fmt_us(v), ratio(v, gen[t]) if v is not None else "-"]
        print(f"| {name} | " + " | ".join(cells) + " |")

    row("**ltgen generated step** (training_step + Optimizer::step)", gen)
    short = {t: proc_us(f"loop_{case}_short_{t}") for t in (1, 2)}
    long_ = {t: proc_us(f"loop_{case}_long_{t}") for t in (1, 2)}
    steps = 200000 if case == "linear" else 2000
    if short[1] or short[2]:  # (c) and (d) are timed as steps only
        row("ltgen program, its own loop (data, logging; (long - short run) / steps)",
            {t: (long_[t] - short[t]) / steps if long_[t] and short[t] else None for t in (1, 2)})
    if case == "linear":
        h = gbench("handwritten", 1).get("BM_handwritten_linear/real_time")
        row("hand-written C++ loop (single-threaded)", {1: h[0] if h else None, 2: h[0] if h else None})
    notes = []
    lt, pol = {}, ""
    for t in (1, 2):
        cands = [(v[0], p) for p, v in ((p, gbench(n, t).get(f"BM_libtorch_{case}/threads:{t}/real_time"))
                                        for n, p in (("libtorch", "default"), ("libtorch_passive", "passive"))) if v]
        if cands:
            lt[t], p = min(cands)
            if t == 2:
                pol = p
                notes.append("LibTorch, 2 threads: " + ", ".join(f"OMP_WAIT_POLICY={p}: {fmt_us(v)}" for v, p in cands))
    row(f"LibTorch C++ frontend {machine.get('libtorch', '')} (Debian){' (2 threads: ' + pol + ')' if pol else ''}", lt)
    for label, name in (("pytorch_pypi", "PyTorch loop, newest from PyPI"), ("pytorch_debian", "PyTorch loop, Debian python3-torch")):
        vals, ver, pol = {}, "", ""
        for t in (1, 2):
            rs = by_label(label, case=case, threads=t)
            if rs:
                best = min(rs, key=lambda r: r["median_us"])
                vals[t] = best["median_us"]
                ver = f"{best['torch']} ({best['blas']})"
                if t == 2:
                    pol = best["omp_wait_policy"] or "default"
                    notes.append(f"{name}, 2 threads: " + ", ".join(
                        f"OMP_WAIT_POLICY={r['omp_wait_policy'] or 'default'}: {fmt_us(r['median_us'])}" for r in rs))
        row(f"{name} {ver}{' (2 threads: ' + pol + ')' if pol else ''}", vals)
    spec = f"{case}.json"
    vals, vals_step, ver = {}, {}, ""
    for t in (1, 2):
        rs = by_label("lightning", spec=spec, threads=t)
        if rs:
            vals[t] = statistics.median(r["median_loop_us"] for r in rs)
            vals_step[t] = statistics.median(r["median_step_us"] for r in rs)
            ver = f"{rs[0]['lightning']}, torch {rs[0]['torch']}"
    row(f"Lightning Trainer {ver}: batch start to batch start", vals)
    row("Lightning Trainer: on_train_batch_start to _end", vals_step)
    print()
    for n in notes:
        print(f"- {n}")
    for t in (1, 2):
        if t in extra:
            print(f"- generated step, {t} thread(s): {extra[t]}")
    print()

print("### Whole process\n")
print("| process | median wall time |")
print("| --- | --- |")
for t in (1, 2):
    print(f"| ltgen program specs/linear.json (3 epochs, 96 steps, metrics.csv, checkpoint), "
          f"OPENBLAS_NUM_THREADS={t}, 31 runs | {fmt_us(proc_us(f'process_linear_{t}'))} |")
for t in (1, 2):
    print(f"| ltgen program specs/mlp.json (2 epochs, 32 steps), OPENBLAS_NUM_THREADS={t}, 11 runs "
          f"| {fmt_us(proc_us(f'process_mlp_{t}'))} |")
hf = os.path.join(out, "hyperfine-linear.json")
if os.path.exists(hf):
    r = json.load(open(hf))["results"][0]
    print(f"| ltgen program specs/linear.json, hyperfine (50 runs; mean +- sd) | "
          f"{fmt_us(r['median'] * 1e6)} (mean {fmt_us(r['mean'] * 1e6)} +- {fmt_us(r['stddev'] * 1e6)}) |")
lp = proc_us("process_lightning_linear")
if lp:
    lin = proc_us("process_linear_1")
    print(f"| Lightning Trainer on specs/linear.json (python startup, imports, fit, checkpoint) | {fmt_us(lp)} "
          f"({ratio(lp, lin)} the ltgen program) |")
print()
print("### Machine and versions\n")
for k in ("cpu", "os", "compiler", "cmake", "openblas", "openblas_core", "libbenchmark", "libtorch", "python3-torch",
          "hyperfine", "ltgen"):
    print(f"- {k}: {machine.get(k, '?')}")
for label in ("pytorch_pypi", "pytorch_debian", "lightning"):
    rs = by_label(label)
    if rs:
        r = rs[0]
        print(f"- {label}: python {r['python']}, torch {r['torch']}, BLAS {r['blas']}, mkldnn {r['mkldnn']}"
              + (f", lightning {r['lightning']}" if "lightning" in r else ""))
