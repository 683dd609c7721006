#!/usr/bin/env python3
"""Writes the padded token sequences of specs/padded_tokens.json: padded_tokens_{x,pad,y}.npy and,
for validation, padded_tokens_v{x,pad,y}.npy.

x: int64 (N, 12) token sequences: tokens 1..11, lengths 3..12, padded with 0 (padding_idx).
pad: bool (N, 12), True at the padding (the key padding mask).
y: int64 (N,) 1 where more than half of a sequence's tokens are above 6, else 0: a count over the
   sequence's own positions, which attention that skips the padding can take.
256 training and 64 validation rows. Deterministic: numpy's PCG64 with seed 0.
"""
import os

import numpy as np

rng = np.random.default_rng(0)
length, vocab = 12, 12
here = os.path.dirname(os.path.abspath(__file__))
for prefix, n in (("", 256), ("v", 64)):
    x = rng.integers(1, vocab, size=(n, length), dtype=np.int64)
    lengths = rng.integers(3, length + 1, size=n)
    pad = np.arange(length)[None, :] >= lengths[:, None]
    x[pad] = 0
    y = ((x > 6).sum(axis=1) * 2 > lengths).astype(np.int64)
    np.save(os.path.join(here, f"padded_tokens_{prefix}x.npy"), x)
    np.save(os.path.join(here, f"padded_tokens_{prefix}pad.npy"), pad)
    np.save(os.path.join(here, f"padded_tokens_{prefix}y.npy"), y)
