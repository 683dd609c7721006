#!/usr/bin/env python3
"""The stat-score metrics of one batch (ltrt's count_metrics: precision, recall, f1_score,
fbeta_score, specificity, negative_predictive_value, hamming_distance, jaccard_index,
matthews_corrcoef, cohen_kappa unweighted and with linear and quadratic weights) and exact_match (a sample right when all its positions are: multiclass
over the positions' argmax, ignored targets counting as right, or multilabel over two or more
labels) against torchmetrics' functional ones
on the same logits, bit for bit: binary logits (some batches all inside [0, 1], which torchmetrics
takes for probabilities) and multiclass sequences of 2 to 7 classes, with an ignore_index outside
the classes or naming one (jaccard leaves that class out), every average, top_k and several betas;
and batches built to reach the corners: every prediction right, every one wrong, one class
predicted, no positives, every target ignored, and matthews_corrcoef's 2 x 2 special cases (its
eps forms). Binary counts past 2^24 (an epoch's, as a Metric object sums them) go to torchmetrics'
reduce functions, which its Metric objects' compute() calls on their states. Run with the Lightning venv's Python (PyPI's torch and torchmetrics).

matthews_corrcoef takes a square root: torchmetrics runs with Tensor.sqrt correctly rounded, as
ltrt's sqrtf is, and must equal ltrt bit for bit; with torch's own (MKL's vsSqrt, which misrounds
about 20% of inputs on an AMD EPYC) the values may differ by a few steps (more than 8 fails).
"""
import argparse
import importlib
import itertools
import json
import subprocess
import sys

import numpy as np
import torch
import torchmetrics.functional as tmf
from correlation_oracle import RoundedSqrt, steps_apart

KINDS = ["precision", "recall", "f1_score", "fbeta_score", "specificity", "negative_predictive_value",
         "hamming_distance", "jaccard_index", "matthews_corrcoef", "cohen_kappa"]
TOP_K = {"precision", "recall", "f1_score", "fbeta_score", "specificity", "negative_predictive_value",
         "hamming_distance"}
MATRIX = {"matthews_corrcoef", "cohen_kappa"}  # no average


def torchmetrics_value(case):
    kind, classes = case["kind"], case["classes"]
    n, per_row = case["n"], case["per_row"]
    out = torch.tensor(case["out"], dtype=torch.float32)
    kwargs = {}
    if kind == "exact_match" and classes == 0:  # multilabel: a sample's per_row labels
        target = (torch.tensor(case["target"], dtype=torch.float32).reshape(n, per_row) > 0.5).long()
        return tmf.exact_match(out.reshape(n, per_row), target, task="multilabel", num_labels=per_row)
    if kind == "exact_match":  # multiclass: a sample's per_row positions' classes
        preds = out.reshape(n, per_row, classes).argmax(dim=-1)
        target = torch.tensor(case["target"], dtype=torch.int64).reshape(n, per_row)
        return tmf.exact_match(preds, target, task="multiclass", num_classes=classes,
                               ignore_index=case["ignore_index"])
    if kind == "fbeta_score":
        kwargs["beta"] = case["beta"]
    if case.get("weights", "none") != "none":
        kwargs["weights"] = case["weights"]
    if classes == 0:
        preds = out.reshape(n, per_row)
        target = (torch.tensor(case["target"], dtype=torch.float32).reshape(n, per_row) > 0.5).long()
        return getattr(tmf, kind)(preds, target, task="binary", **kwargs)
    preds = out.reshape(n * per_row, classes)
    target = torch.tensor(case["target"], dtype=torch.int64).reshape(-1)
    if kind not in MATRIX:
        kwargs["average"] = case["average"]
    if case["top_k"] > 1:
        kwargs["top_k"] = case["top_k"]
    return getattr(tmf, kind)(preds, target, task="multiclass", num_classes=classes,
                              ignore_index=case["ignore_index"], **kwargs)


def reduce_counts(kind, tp, fp, tn, fn, beta):
    """torchmetrics' binary reduction of the stat scores or the 2 x 2 confusion matrix, as its
    Metric objects' compute() applies it to their summed states."""
    def module(name):  # the package's functions hide its modules of the same names
        return importlib.import_module("torchmetrics.functional.classification." + name)
    precision_recall, f_beta, specificity, npv, hamming, jaccard, mcc, ck = (
        module(name) for name in ("precision_recall", "f_beta", "specificity", "negative_predictive_value", "hamming",
                                  "jaccard", "matthews_corrcoef", "cohen_kappa"))
    tp, fp, tn, fn = (torch.tensor(v, dtype=torch.int64) for v in (tp, fp, tn, fn))
    confmat = torch.stack([torch.stack([tn, fp]), torch.stack([fn, tp])])
    if kind in ("precision", "recall"):
        return precision_recall._precision_recall_reduce(kind, tp, fp, tn, fn, average="binary")
    if kind in ("f1_score", "fbeta_score"):
        return f_beta._fbeta_reduce(tp, fp, tn, fn, beta if kind == "fbeta_score" else 1.0, average="binary")
    if kind == "specificity":
        return specificity._specificity_reduce(tp, fp, tn, fn, average="binary")
    if kind == "negative_predictive_value":
        return npv._negative_predictive_value_reduce(tp, fp, tn, fn, average="binary")
    if kind == "hamming_distance":
        return hamming._hamming_distance_reduce(tp, fp, tn, fn, average="binary")
    if kind == "jaccard_index":
        return jaccard._jaccard_index_reduce(confmat, average="binary")
    if kind == "matthews_corrcoef":
        return mcc._matthews_corrcoef_reduce(confmat)
    return ck._cohen_kappa_reduce(confmat)


def count_cases(rng):
    """Binary counts (tp, fp, tn, fn) past float32's 2^24, where each entry rounds before torch sums
    them, and the corners of the 2 x 2 matrix."""
    big = 1 << 24
    yield from [(big + 1, 3, big + 7, 5), ((1 << 23) + 1, 0, 0, 1), (big + 3, big + 5, 1, 2), (0, 0, big + 1, 0),
                (big + 1, 0, 0, 0), (0, big + 3, 0, big + 1), (7, 0, 0, big + 9), (0, 0, 0, 0)]
    for _ in range(40):
        yield tuple(int(v) for v in rng.integers(0, 1 << 26, 4))


def bits(value):
    v = np.float32(value.item())
    return "nan" if np.isnan(v) else int(np.array([v], dtype=np.float32).view(np.uint32)[0])


def batches(rng):
    """(classes, per_row, n, ignore_index, out, target) batches: random ones and the corners."""
    for classes in (2, 3, 5, 7):
        for ignore_index in (-100, 0, classes - 1):
            for n, per_row in ((6, 4), (3, 1), (9, 3)):
                positions = n * per_row
                out = rng.standard_normal((positions, classes)).astype(np.float32)
                target = rng.integers(0, classes, positions)
                target[rng.random(positions) < 0.2] = ignore_index
                yield classes, per_row, n, ignore_index, out, target
                right = out.copy()  # every counted prediction right
                right[np.arange(positions), np.where(target == ignore_index, 0, target)] += 10
                yield classes, per_row, n, ignore_index, right, target
                wrong = out.copy()  # every prediction the next class
                wrong[np.arange(positions), (np.where(target == ignore_index, 0, target) + 1) % classes] += 10
                yield classes, per_row, n, ignore_index, wrong, target
                one = out.copy()  # class 1 predicted everywhere
                one[:, 1] += 10
                yield classes, per_row, n, ignore_index, one, target
                yield classes, per_row, n, ignore_index, out, np.full(positions, 1)  # one class's targets
            yield classes, 2, 2, ignore_index, rng.standard_normal((4, classes)).astype(np.float32), \
                np.full(4, ignore_index)  # every target ignored
    for n, per_row in ((6, 3), (2, 1), (4, 2), (1, 1)):
        positions = n * per_row
        logits = (rng.standard_normal(positions) * 2).astype(np.float32)
        target = (rng.random(positions) > 0.5).astype(np.float32)
        yield 0, per_row, n, -100, logits, target
        yield 0, per_row, n, -100, rng.random(positions).astype(np.float32), target  # probabilities
        for t in (0.0, 1.0):  # no positives or only positives, predicted all right, all wrong, at random
            full = np.full(positions, t, dtype=np.float32)
            yield 0, per_row, n, -100, np.where(full > 0.5, 5.0, -5.0).astype(np.float32), full
            yield 0, per_row, n, -100, np.where(full > 0.5, -5.0, 5.0).astype(np.float32), full
            yield 0, per_row, n, -100, logits, full
        for p in (5.0, -5.0):  # one prediction everywhere
            yield 0, per_row, n, -100, np.full(positions, p, dtype=np.float32), target


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--driver", required=True)
    args = p.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(5)
    cases = []
    for classes, per_row, n, ignore_index, out, target in batches(rng):
        for kind in KINDS + ["exact_match"]:
            if kind == "exact_match" and classes == 0 and per_row < 2:  # multilabel takes two labels or more
                continue
            averages = ["micro"] if classes == 0 or kind in MATRIX | {"exact_match"} else ["micro", "macro", "weighted"]
            top_ks = [1] + ([k for k in (2, 3) if k < classes] if kind in TOP_K and classes else [])
            betas = [0.5, 2.0, 3.7] if kind == "fbeta_score" else [1.0]
            weightings = ["none", "linear", "quadratic"] if kind == "cohen_kappa" else ["none"]
            for average, top_k, beta, weights in itertools.product(averages, top_ks, betas, weightings):
                cases.append({"kind": kind, "average": average, "top_k": top_k, "beta": beta, "weights": weights,
                              "classes": classes, "per_row": per_row, "ignore_index": ignore_index, "n": n,
                              "out": [float(v) for v in out.reshape(-1)],
                              "target": [int(v) if classes else float(v) for v in target.reshape(-1)]})
    for tp, fp, tn, fn in count_cases(rng):
        for kind in KINDS:
            for beta in ([0.5, 2.0] if kind == "fbeta_score" else [1.0]):
                cases.append({"kind": kind, "beta": beta, "counts": [tp, tp + fp, tp + fn, tp + fp + tn + fn],
                              "stats": (tp, fp, tn, fn)})
    proc = subprocess.run([args.driver], input=json.dumps({"cases": cases}), capture_output=True, text=True,
                          timeout=300)
    if proc.returncode != 0:
        print(f"FAILED: the driver exited with {proc.returncode}:\n{proc.stderr}")
        return 1
    ours = json.loads(proc.stdout)
    bad = apart = worst_own = 0
    for case, mine in zip(cases, ours):
        value = lambda: bits(reduce_counts(case["kind"], *case["stats"], case["beta"]) if "counts" in case
                             else torchmetrics_value(case))
        with RoundedSqrt():
            want = value()
        own = value() if case["kind"] == "matthews_corrcoef" else want
        apart += own != mine
        worst_own = max(worst_own, steps_apart(own, mine))
        if want != mine or steps_apart(own, mine) > 8:
            bad += 1
            if bad <= 20:
                show = {k: v for k, v in case.items() if k not in ("out", "target", "stats")}
                ltrt = mine if mine == "nan" else np.array([mine], dtype=np.uint32).view(np.float32)[0]
                theirs = want if want == "nan" else np.array([want], dtype=np.uint32).view(np.float32)[0]
                print(f"{show}: ltrt {ltrt}, torchmetrics {theirs}")
    print(f"{len(cases) - bad} of {len(cases)} batch values equal torchmetrics' bit for bit (with a correctly "
          f"rounded sqrt; with torch's own sqrt {apart} differ, by at most {worst_own} steps)")
    print("FAILED" if bad else "PASSED")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
