// cblas_sgemm in plain C++, for machines without a BLAS library (a GPU machine that has only
// the CUDA toolkit, say): the CPU steps then run on this, correct but far slower than OpenBLAS.
// runtime/CMakeLists.txt compiles it only when find_package(BLAS) finds nothing.
#include <cstdint>

#include "ltrt/blas.hpp"

namespace {

// op(X)[i][j] of a row-major matrix with leading dimension ld.
inline float at(const float* x, int ld, bool trans, int i, int j) {
  return trans ? x[static_cast<std::int64_t>(j) * ld + i] : x[static_cast<std::int64_t>(i) * ld + j];
}

}  // namespace

extern "C" void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE trans_a, enum CBLAS_TRANSPOSE trans_b,
                            int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
                            float beta, float* c, int ldc) {
  if (order == CblasColMajor) {  // C^T = op(B)^T op(A)^T, row-major
    cblas_sgemm(CblasRowMajor, trans_b, trans_a, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc);
    return;
  }
  const bool ta = trans_a != CblasNoTrans, tb = trans_b != CblasNoTrans;
  for (int i = 0; i < m; ++i) {
    float* row = c + static_cast<std::int64_t>(i) * ldc;
    // beta == 0 ignores C, as BLAS does (it may hold NaN).
    for (int j = 0; j < n; ++j) row[j] = beta == 0.0f ? 0.0f : beta * row[j];
    for (int p = 0; p < k; ++p) {
      const float s = alpha * at(a, lda, ta, i, p);
      if (!tb) {
        const float* brow = b + static_cast<std::int64_t>(p) * ldb;
        for (int j = 0; j < n; ++j) row[j] += s * brow[j];
      } else {
        for (int j = 0; j < n; ++j) row[j] += s * b[static_cast<std::int64_t>(j) * ldb + p];
      }
    }
  }
}
