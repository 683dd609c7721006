#!/usr/bin/env python3
"""ltrt::TorchGenerator against torch's own CPU generator: after torch.manual_seed(seed), the
draws of uniform_ and normal_ on float32 tensors, as torch.nn's initialisation makes them, and of
torch.randint, as the randn data sources make them, must be torch's bit for bit. The cases mix
the sizes where normal_ changes path (below 16 elements it draws float64 pairs and keeps the
second; from 16 on it works in blocks of 16 and redraws the last 16 when 16 does not divide the
size), bounds that torch's kaiming_uniform_ and xavier_uniform_ compute, randint's ranges below
and above 2^32, and several tensors after one seed, so that the generator's position carries over.
Dropout's masks (F.dropout in training: bernoulli_(1 - p) on the CPU, which torch draws from
random64()'s 53 bits since 2.5 everywhere, and Debian's 1.13 too; attention dropout's masks are
such a draw over the probabilities), one at a time and a run at a time, come between them, with
p = 1 (no draws) and a generator restored from its state text (checkpoints keep it).

torch on an x86-64 CPU with AVX2 (Debian's 1.13 and PyPI's 2.x draw alike there) is the oracle.
Exit status 1 on any difference."""
import argparse
import math
import subprocess
import sys

import torch

parser = argparse.ArgumentParser()
parser.add_argument("--driver", required=True)
args = parser.parse_args()


def kaiming(fan_in):
    return math.sqrt(3.0) * (math.sqrt(2.0 / (1 + math.sqrt(5) ** 2)) / math.sqrt(fan_in))


def xavier(fan_in, fan_out):
    return math.sqrt(3.0) * (1.0 * math.sqrt(2.0 / float(fan_in + fan_out)))


# (seed, [(kind, n, parameter), ...]): each sequence after its seed.
CASES = [
    (0, [("uniform", 1000, kaiming(10)), ("uniform", 10, 1 / math.sqrt(10))]),
    (42, [("normal", n, 1.0) for n in (1, 2, 3, 5, 15, 16, 17, 31, 32, 33, 47, 100, 4097)]),
    (7, [("normal", 3, 1.0), ("uniform", 5, 0.5), ("normal", 1, 1.0), ("normal", 2, 0.02)]),
    (4294967295, [("uniform", 3072, xavier(64, 192)), ("normal", 250, 1.0), ("uniform", 64, kaiming(64))]),
    (123456789, [("normal", 65536, 1.0), ("uniform", 65536, 0.125), ("normal", 7, 2.5)]),
    (3, [("uniform", 4096, 1.0), ("uniform", 4096, 1e-3), ("uniform", 100, 1e6)]),
    # The randn data sources: torch.randn(N, F) then torch.randint(0, K, (N,)) from one generator.
    (13, [("normal", 300 * 6, 1.0), ("randint", 300, 3), ("normal", 7, 1.0), ("randint", 1000, 10),
          ("randint", 50, 2 ** 33 + 7)]),
    # Dropout masks after initialisation-like draws, between them, and after a restored state.
    (42, [("uniform", 100, kaiming(10)), ("dropout", 5000, 0.1), ("dropout", 333, 0.5), ("normal", 3, 1.0),
          ("dropout", 64, 1.0), ("dropout", 1000, 0.3), ("roundtrip", None, None),
          ("normal", 5, 1.0), ("dropout", 4096, 0.75), ("roundtrip", None, None), ("uniform", 17, 0.5)]),
    # The same drawn a run at a time (TorchGenerator::bernoulli(p, n, keep)): runs across its chunks
    # of 512 and the engine's 624 words, between single draws, after a restored state.
    (5, [("dropout_run", 1, 0.1), ("dropout_run", 511, 0.1), ("dropout", 3, 0.2), ("dropout_run", 512, 0.9),
         ("uniform", 7, 1.0), ("dropout_run", 513, 0.5), ("dropout_run", 100000, 0.1), ("roundtrip", None, None),
         ("dropout_run", 1247, 1e-9), ("dropout_run", 999, 0.999999), ("dropout_run", 7, 1.0),
         ("dropout_run", 0, 0.5), ("normal", 33, 1.0), ("dropout_run", 3000, 1 / 3)]),
]

commands, expected = [], []
for seed, draws in CASES:
    commands.append(f"seed {seed}")
    torch.manual_seed(seed)
    for kind, n, p in draws:
        if kind == "roundtrip":
            commands.append(kind)
            continue
        commands.append(f"{kind} {n} {p!r}")
        if kind in ("dropout", "dropout_run"):
            kept = (torch.nn.functional.dropout(torch.ones(n), p, training=True) != 0).int().tolist()
            expected.append((f"seed {seed}: dropout {n} {p!r}", kept, 1))
            continue
        if kind == "randint":
            values = torch.randint(0, p, (n,)).tolist()
            expected.append((f"seed {seed}: randint {n} {p}", values, 16))
            continue
        t = torch.empty(n)
        if kind == "uniform":
            t.uniform_(-p, p)
        else:
            t.normal_(0, p)
        expected.append((f"seed {seed}: {kind} {n} {p!r}", [b & 0xFFFFFFFF for b in t.view(torch.int32).tolist()], 8))

proc = subprocess.run([args.driver], input="\n".join(commands) + "\n", capture_output=True, text=True, timeout=300)
if proc.returncode != 0:
    sys.exit(f"the driver failed: {proc.stderr}")
lines = proc.stdout.splitlines()
if len(lines) != len(expected):
    sys.exit(f"the driver wrote {len(lines)} tensors, expected {len(expected)}")
bad = 0
total = 0
for (what, theirs, digits), line in zip(expected, lines):
    ours = [int(line[i:i + digits], 16) for i in range(0, len(line), digits)]
    total += len(theirs)
    if ours != theirs:
        wrong = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
        print(f"{what}: {len(wrong)} of {len(theirs)} differ (first at {wrong[:5]}), lengths {len(ours)}/{len(theirs)}")
        bad += 1
if bad:
    sys.exit(1)
print(f"{len(expected)} tensors, {total} values: identical to torch {torch.__version__}'s draws")
