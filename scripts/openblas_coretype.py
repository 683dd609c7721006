#!/usr/bin/env python3
"""Prints the OPENBLAS_CORETYPE that suits this CPU when OpenBLAS does not recognise it, else
nothing. OpenBLAS then runs its generic Prescott kernels (SSE3, no FMA): several times slower, and
rounding each product, unlike the fused kernels the bf16 tests' tolerances were set against. The
generated programs warn about the same case (runtime/src/blas_kernels.cpp, the same choice)."""
import ctypes
import os

try:
    core = ctypes.CDLL("libopenblas.so.0")
except OSError:
    raise SystemExit(0)  # not OpenBLAS: nothing to choose
core.openblas_get_corename.restype = ctypes.c_char_p
if "OPENBLAS_CORETYPE" not in os.environ and core.openblas_get_corename() == b"Prescott":
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    for flag, kernels in (("avx512_bf16", "Cooperlake"), ("avx512f", "SkylakeX"), ("avx2", "Haswell")):
        if flag in flags:
            print(kernels)
            break
