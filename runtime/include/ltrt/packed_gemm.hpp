// A GEMM for a recurrence: C = A B + beta C where B stays the same over many calls (a recurrent
// layer's weight_hh, once per time step) and A has few rows (the batch). BLAS's sgemm packs B
// again on every call (for an LSTM of 256 units, 1 MB per step) and is tuned for large A; here B
// is packed once per sequence into panels of 32 columns, and a 8 x 32 register block runs over
// them (gemm_packed_split: the panels shared among blas_threads() threads). Each element of C sums
// its products over k in order, as one multiply-add chain.
//
// Header-only: the kernel is written with GCC's vector extension (16 floats), which the compiler
// maps to the machine's SIMD (one AVX-512 register, or two AVX ones); a generated program is built
// with -march=native, so it gets its own machine's.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "ltrt/workers.hpp"

namespace ltrt {

namespace packed_detail {
constexpr int kPanel = 32;  // columns of B a panel holds: two 16-float vectors
constexpr int kRows = 8;    // rows of A a register block covers: 16 accumulators
typedef float Vec16 __attribute__((vector_size(64)));

// (Vectors pass by reference: by value they would change the ABI between -march settings, which
// GCC warns about even for inline functions.)
inline void load16(Vec16& v, const float* p) { std::memcpy(&v, p, sizeof v); }
inline void store16(float* p, const Vec16& v) { std::memcpy(p, &v, sizeof v); }

// C's rows [0, R) by one panel: acc = beta C (beta 0: C is not read), plus A's rows times the
// panel's k x 32 block, then `cols` (<= 32) columns stored.
template <int R>
inline void block(int k, const float* a, int lda, const float* panel, float beta, float* c, int ldc, int cols) {
  Vec16 lo[R], hi[R];
  float tail[kPanel];
  for (int r = 0; r < R; ++r) {
    lo[r] = Vec16{};
    hi[r] = Vec16{};
    if (beta == 0.0f) continue;
    const float* row = c + static_cast<std::ptrdiff_t>(r) * ldc;
    if (cols != kPanel) {
      std::fill(tail, tail + kPanel, 0.0f);
      std::copy(row, row + cols, tail);
    }
    load16(lo[r], cols == kPanel ? row : tail);
    load16(hi[r], (cols == kPanel ? row : tail) + 16);
    lo[r] *= beta;
    hi[r] *= beta;
  }
  for (int p = 0; p < k; ++p) {
    Vec16 b_lo, b_hi;
    load16(b_lo, panel + p * kPanel);
    load16(b_hi, panel + p * kPanel + 16);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const float x = a[static_cast<std::ptrdiff_t>(r) * lda + p];
      lo[r] += x * b_lo;
      hi[r] += x * b_hi;
    }
  }
  for (int r = 0; r < R; ++r) {
    float* row = c + static_cast<std::ptrdiff_t>(r) * ldc;
    if (cols == kPanel) {
      store16(row, lo[r]);
      store16(row + 16, hi[r]);
    } else {
      store16(tail, lo[r]);
      store16(tail + 16, hi[r]);
      std::copy(tail, tail + cols, row);
    }
  }
}
}  // namespace packed_detail

// Floats a packed k x n B takes: k rows of n columns, rounded up to whole panels.
constexpr std::size_t packed_size(int k, int n) {
  return static_cast<std::size_t>(k) * static_cast<std::size_t>((n + packed_detail::kPanel - 1) / packed_detail::kPanel) *
         packed_detail::kPanel;
}

// Packs B (k x n, op(b) with b row-major, rows ldb apart; trans_b: b is n x k) into `packed`
// (packed_size(k, n) floats): panel j holds columns [32j, 32j + 32) as k rows of 32, zero past n.
inline void pack_b(bool trans_b, int k, int n, const float* b, int ldb, float* packed) {
  constexpr int P = packed_detail::kPanel;
  for (int j0 = 0; j0 < n; j0 += P) {
    float* panel = packed + static_cast<std::size_t>(j0) * k;
    const int cols = std::min(P, n - j0);
    for (int p = 0; p < k; ++p) {
      float* dst = panel + p * P;
      for (int c = 0; c < cols; ++c)
        dst[c] = trans_b ? b[static_cast<std::ptrdiff_t>(j0 + c) * ldb + p] : b[static_cast<std::ptrdiff_t>(p) * ldb + j0 + c];
      for (int c = cols; c < P; ++c) dst[c] = 0.0f;
    }
  }
}

// C (m x n, rows ldc apart) = A (m x k, rows lda apart) times the packed B, plus beta C (beta 0:
// C is only written).
inline void gemm_packed(int m, int n, int k, const float* a, int lda, const float* packed, float beta, float* c,
                        int ldc) {
  using namespace packed_detail;
  for (int j0 = 0; j0 < n; j0 += kPanel) {
    const float* panel = packed + static_cast<std::size_t>(j0) * k;
    const int cols = std::min(kPanel, n - j0);
    int i = 0;
    for (; i + kRows <= m; i += kRows)
      block<kRows>(k, a + static_cast<std::ptrdiff_t>(i) * lda, lda, panel, beta, c + static_cast<std::ptrdiff_t>(i) * ldc + j0,
                   ldc, cols);
    const float* ai = a + static_cast<std::ptrdiff_t>(i) * lda;
    float* ci = c + static_cast<std::ptrdiff_t>(i) * ldc + j0;
    switch (m - i) {  // the rows left, fewer than a block
      case 7: block<7>(k, ai, lda, panel, beta, ci, ldc, cols); break;
      case 6: block<6>(k, ai, lda, panel, beta, ci, ldc, cols); break;
      case 5: block<5>(k, ai, lda, panel, beta, ci, ldc, cols); break;
      case 4: block<4>(k, ai, lda, panel, beta, ci, ldc, cols); break;
      case 3: block<3>(k, ai, lda, panel, beta, ci, ldc, cols); break;
      case 2: block<2>(k, ai, lda, panel, beta, ci, ldc, cols); break;
      case 1: block<1>(k, ai, lda, panel, beta, ci, ldc, cols); break;
      default: break;
    }
  }
}

// gemm_packed with B's panels split among the step workers (ltrt/workers.hpp): each thread computes
// whole columns of C, in the same order as one thread would, so the result does not depend on the
// number of threads.
inline void gemm_packed_split(Workers& workers, int m, int n, int k, const float* a, int lda, const float* packed,
                              float beta, float* c, int ldc) {
  using packed_detail::kPanel;
  const int panels = (n + kPanel - 1) / kPanel;
  if (workers.threads() == 1 || panels < 2) return gemm_packed(m, n, k, a, lda, packed, beta, c, ldc);
  struct Job {
    int m, n, k;
    const float* a;
    int lda;
    const float* packed;
    float beta;
    float* c;
    int ldc, panels;
  } job{m, n, k, a, lda, packed, beta, c, ldc, panels};
  workers.run(
      [](void* context, int part, int parts) noexcept {
        const Job& j = *static_cast<const Job*>(context);
        const int first = j.panels * part / parts, last = j.panels * (part + 1) / parts;
        const int c0 = first * kPanel, c1 = std::min(j.n, last * kPanel);
        if (c0 < c1)
          gemm_packed(j.m, c1 - c0, j.k, j.a, j.lda, j.packed + static_cast<std::size_t>(c0) * j.k, j.beta, j.c + c0,
                      j.ldc);
      },
      &job, panels);
}

// The same on the program's step workers (blas_threads() threads).
inline void gemm_packed_split(int m, int n, int k, const float* a, int lda, const float* packed, float beta, float* c,
                              int ldc) {
  gemm_packed_split(step_workers(), m, n, k, a, lda, packed, beta, c, ldc);
}

}  // namespace ltrt
