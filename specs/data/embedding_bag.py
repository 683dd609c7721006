#!/usr/bin/env python3
"""Writes embedding_bag_x.npy and embedding_bag_y.npy for specs/embedding_bag.json.

x: int64 (128, 6) token sequences: tokens 1..11, lengths 3..6, padded with 0 (padding_idx).
y: int64 (128,) class = first token mod 4: a rule the model can learn from token 0's embedding.
Deterministic: numpy's PCG64 with seed 0.
"""
import os

import numpy as np

rng = np.random.default_rng(0)
n, length, vocab, classes = 128, 6, 12, 4
x = rng.integers(1, vocab, size=(n, length), dtype=np.int64)
lengths = rng.integers(3, length + 1, size=n)
x[np.arange(length)[None, :] >= lengths[:, None]] = 0
y = (x[:, 0] % classes).astype(np.int64)
here = os.path.dirname(os.path.abspath(__file__))
np.save(os.path.join(here, "embedding_bag_x.npy"), x)
np.save(os.path.join(here, "embedding_bag_y.npy"), y)
