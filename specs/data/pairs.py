#!/usr/bin/env python3
"""Writes the query/item pairs of specs/two_tower.json: pairs_{a,b,y}.npy and, for validation,
pairs_v{a,b,y}.npy.

a: float32 (N, 8) queries, standard normal.
b: float32 (N, 6) items: tanh(a M^T) plus noise for a matching pair (y 1), the item of another
   random query for the rest (y -1). M is a fixed random (6, 8) matrix, so a model can learn
   which items match a query.
y: float32 (N,) 1 or -1, half each: CosineEmbeddingLoss's targets.
512 training and 128 validation rows. Deterministic: numpy's PCG64 with seed 0.
"""
import os

import numpy as np

rng = np.random.default_rng(0)
m = rng.standard_normal((6, 8)) / np.sqrt(8)
here = os.path.dirname(os.path.abspath(__file__))
for prefix, n in (("", 512), ("v", 128)):
    a = rng.standard_normal((n, 8))
    y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    other = rng.standard_normal((n, 8))
    b = np.tanh(np.where(y[:, None] > 0, a, other) @ m.T) + 0.1 * rng.standard_normal((n, 6))
    np.save(os.path.join(here, f"pairs_{prefix}a.npy"), a.astype(np.float32))
    np.save(os.path.join(here, f"pairs_{prefix}b.npy"), b.astype(np.float32))
    np.save(os.path.join(here, f"pairs_{prefix}y.npy"), y.astype(np.float32))
