// sgemm_ld: the step's GEMMs split among its threads (ltrt/blas.hpp).
#include "ltrt/blas.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "ltrt/parallel_for.hpp"

namespace ltrt {

namespace {

// The fewest multiply-adds worth a part: about 10 us of one core. Above 100^3 too, where
// OpenBLAS's small-matrix kernels (which sum k in another order) stop, so that a part takes the
// same path as the whole product would.
constexpr std::int64_t kPartMacs = std::int64_t{1} << 20;
// Rows (or columns) a part boundary falls on: a multiple of OpenBLAS's register blocks.
constexpr int kUnit = 16;

// Turns OpenBLAS's own threads off, once, and says whether the BLAS library runs each call on
// the calling thread. Looked up, not linked: the program may link another BLAS (whose threads
// are its own business: its products are then not split here) or ltrt's portable sgemm.
bool blas_on_calling_thread() {
  static const bool single = [] {
    using SetThreads = void (*)(int);
    const auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    if (set == nullptr) return false;
    set(1);
    return true;
  }();
  return single;
}

inline void call(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                 int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
              a, lda, b, ldb, beta, c, ldc);
}

}  // namespace

void sgemm_ld(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
              int ldb, float beta, float* c, int ldc) {
  const std::int64_t macs = std::int64_t{m} * n * k;
  if (!blas_on_calling_thread() || split_parts(macs, kPartMacs) <= 1) {
    call(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // By rows of C (rows of op(A)) or by its columns (columns of op(B)), whichever are more; in
  // units of kUnit, as many parts as split_parts allows for the whole product.
  const bool by_rows = m >= n;
  const int extent = by_rows ? m : n;
  const std::int64_t units = (extent + kUnit - 1) / kUnit;
  const int parts = split_parts(macs, kPartMacs);
  parallel_for(units, std::max<std::int64_t>(1, units / parts), [&](std::int64_t u0, std::int64_t u1) {
    const int lo = static_cast<int>(u0) * kUnit, hi = std::min(extent, static_cast<int>(u1) * kUnit);
    if (by_rows) {
      const float* a_rows = trans_a ? a + lo : a + static_cast<std::ptrdiff_t>(lo) * lda;
      call(trans_a, trans_b, hi - lo, n, k, alpha, a_rows, lda, b, ldb, beta, c + static_cast<std::ptrdiff_t>(lo) * ldc,
           ldc);
    } else {
      const float* b_cols = trans_b ? b + static_cast<std::ptrdiff_t>(lo) * ldb : b + lo;
      call(trans_a, trans_b, m, hi - lo, k, alpha, a, lda, b_cols, ldb, beta, c + lo, ldc);
    }
  });
}

}  // namespace ltrt
