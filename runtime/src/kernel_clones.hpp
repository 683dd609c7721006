// LTRT_KERNEL_CLONES: a CPU loop compiled for several x86-64 levels, the best picked at load time.
#pragma once

// Multiversioned kernels (GCC on x86-64 Linux): the runtime is compiled for baseline x86-64,
// where std::fma is a call into libm for every element and the loop stays scalar. The
// x86-64-v3/v4 clones inline it as vfmadd and vectorise the loop; the ifunc picks the best
// clone at load time. Only for loops whose results are the same bit for bit in every clone:
// elementwise (no reduction to reorder), integer, or rounding once wherever they run (std::fma).
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define LTRT_KERNEL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LTRT_KERNEL_CLONES
#endif
