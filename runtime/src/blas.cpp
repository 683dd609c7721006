// sgemm_ld: the step's GEMMs split among its threads (ltrt/blas.hpp).
#include "ltrt/blas.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "ltrt/parallel_for.hpp"

namespace ltrt {

namespace {

// The fewest multiply-adds of a part, about 10 us of a core, and above 100^3: there OpenBLAS
// (0.3.21) leaves its small-matrix kernels, which sum k in another order, for its blocked ones,
// so that a part takes the path the whole product takes on one thread. With its AVX-512 kernels
// (SkylakeX, Cooperlake) the blocked ones give every element the same bits whatever the rows or
// columns a call covers; blas_split_test checks it (its "direct" kernel for plain products below
// 28 x 512 x 512 included), and finds that its AVX2 kernels (Haswell) do not: a split product
// rounds differently there, as under OpenBLAS's own threads.
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

// Where part q of `parts` starts along C's rows (or columns): on a unit, never past the extent.
inline int part_start(int extent, int unit, std::int64_t units, int q, int parts) {
  return static_cast<int>(std::min<std::int64_t>(extent, units * q / parts * unit));
}

inline void call(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                 int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
              a, lda, b, ldb, beta, c, ldc);
}

}  // namespace

void sgemm_ld(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
              int ldb, float beta, float* c, int ldc) {
  // By rows of C (rows of op(A)) or by its columns (columns of op(B)), whichever are more, in
  // units of kUnit: the most parts (up to the step's threads) whose smallest still has the
  // multiply-adds that keep it on the whole product's path. Under LTGEN_SPLIT_GRAIN (tests) any
  // part goes, by single rows.
  const bool by_rows = m >= n;
  const int extent = by_rows ? m : n;
  const std::int64_t per_line = std::int64_t{by_rows ? n : m} * k;  // multiply-adds of a row (column) of C
  const bool forced = split_forced();
  const int unit = forced ? 1 : kUnit;
  const std::int64_t units = (extent + unit - 1) / unit;
  const std::int64_t least = forced ? 1 : kPartMacs;
  int parts = blas_on_calling_thread() ? static_cast<int>(std::min<std::int64_t>(split_parts(units, 1), units)) : 1;
  for (; parts > 1; --parts) {
    std::int64_t smallest = extent;
    for (int p = 0; p < parts; ++p)
      smallest = std::min<std::int64_t>(
          smallest, part_start(extent, unit, units, p + 1, parts) - part_start(extent, unit, units, p, parts));
    if (smallest * per_line >= least) break;
  }
  if (parts <= 1) {
    call(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  struct Product {
    bool trans_a, trans_b, by_rows;
    int m, n, k, lda, ldb, ldc;
    float alpha, beta;
    const float *a, *b;
    float* c;
    int extent, unit;
    std::int64_t units;
  } product{trans_a, trans_b, by_rows, m, n, k, lda, ldb, ldc, alpha, beta, a, b, c, extent, unit, units};
  step_workers().run(
      [](void* context, int part, int parts) noexcept {
        const Product& p = *static_cast<const Product*>(context);
        const int lo = part_start(p.extent, p.unit, p.units, part, parts);
        const int hi = part_start(p.extent, p.unit, p.units, part + 1, parts);
        if (lo >= hi) return;
        if (p.by_rows) {
          const float* a_rows = p.trans_a ? p.a + lo : p.a + static_cast<std::ptrdiff_t>(lo) * p.lda;
          call(p.trans_a, p.trans_b, hi - lo, p.n, p.k, p.alpha, a_rows, p.lda, p.b, p.ldb, p.beta,
               p.c + static_cast<std::ptrdiff_t>(lo) * p.ldc, p.ldc);
        } else {
          const float* b_cols = p.trans_b ? p.b + static_cast<std::ptrdiff_t>(lo) * p.ldb : p.b + lo;
          call(p.trans_a, p.trans_b, p.m, hi - lo, p.k, p.alpha, p.a, p.lda, b_cols, p.ldb, p.beta, p.c + lo, p.ldc);
        }
      },
      &product, parts);
}

}  // namespace ltrt
