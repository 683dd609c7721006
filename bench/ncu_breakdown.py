#!/usr/bin/env python3
"""Where a step's GPU time goes: reads the CSV that bench/gpu_device_run.sh's Nsight Compute run
writes (`ncu --metrics gpu__time_duration.sum --csv`, one row a kernel launch) and prints each
kernel's total time, share and launch count, largest first.

  ncu_breakdown.py PROFILE.csv [--top N]"""
import argparse
import collections
import csv

UNITS = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3, "s": 1e6, "second": 1e6}  # to µs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    lines = open(args.csv, encoding="utf-8", errors="replace").read().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith('"ID"'))  # after the program's own output
    total = collections.defaultdict(float)
    launches = collections.Counter()
    for row in csv.DictReader(lines[header:]):
        if row["Metric Name"] != "gpu__time_duration.sum":
            continue
        us = float(row["Metric Value"].replace(",", "")) * UNITS[row["Metric Unit"]]
        name = row["Kernel Name"]
        total[name] += us
        launches[name] += 1
    step = sum(total.values())
    print(f"{sum(launches.values())} launches, {step / 1e3:.2f} ms in all (each kernel timed alone)")
    print("| ms | share | launches | kernel |\n|---|---|---|---|")
    for name, us in sorted(total.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"| {us / 1e3:.3f} | {100 * us / step:.1f}% | {launches[name]} | `{name[:100]}` |")


if __name__ == "__main__":
    main()
