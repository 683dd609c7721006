// ltrt::sgemm_ld split among the step's threads (ltrt/blas.hpp): on 2 and 3 threads the product
// is right (against double precision) and C's elements outside it untouched, for shapes on both
// sides of the sizes where OpenBLAS changes kernels (its small-matrix kernels up to 100^3
// multiply-adds, the "direct" one for plain products), every transpose, alpha and beta; and with
// OpenBLAS's AVX-512 kernels (SkylakeX, Cooperlake) every element equals the one-thread product bit
// for bit. Its AVX2 kernels (Haswell) round a split product differently (measured: most shapes
// here), as they did under OpenBLAS's own threads. Run with OPENBLAS_NUM_THREADS=3
// (tests/runtime/CMakeLists.txt) so that the pool has 3 threads, under each OPENBLAS_CORETYPE that
// the CPU can run.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <dlfcn.h>

#include "ltrt/blas.hpp"
#include "ltrt/parallel_for.hpp"

namespace {

struct Shape {
  int m, n, k;
};

// Whether OpenBLAS can run the kernels OPENBLAS_CORETYPE asks for on this CPU.
bool core_runs_here() {
  const char* core = std::getenv("OPENBLAS_CORETYPE");
  if (core == nullptr) return true;
  __builtin_cpu_init();
  const std::string c = core;
  if (c == "Cooperlake") return __builtin_cpu_supports("avx512bf16");
  if (c == "SkylakeX") return __builtin_cpu_supports("avx512f");
  if (c == "Haswell") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return true;
}

// OpenBLAS's kernel set, "" for another BLAS.
std::string core_name() {
  using CoreName = char* (*)();
  const auto name = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  return name == nullptr ? "" : name();
}

TEST(SgemmSplit, RightOnAnyThreadCountAndSameBitsWithAvx512Kernels) {
  if (!core_runs_here()) GTEST_SKIP() << "this CPU cannot run OPENBLAS_CORETYPE=" << std::getenv("OPENBLAS_CORETYPE");
  ASSERT_GE(ltrt::step_workers().threads(), 3) << "run with OPENBLAS_NUM_THREADS=3";
  const std::string core = core_name();
  const bool same_bits = core == "SkylakeX" || core == "Cooperlake";
  std::printf("OpenBLAS kernels: %s; bit-equal splits %s\n", core.c_str(), same_bits ? "checked" : "not expected");
  const std::vector<Shape> shapes = {
      {128, 256, 256},  {128, 256, 784}, {64, 512, 1024}, {2048, 128, 128}, {2048, 384, 128}, {512, 128, 2048},
      {48, 32, 1366},   {200, 300, 50},  {100, 100, 210}, {96, 80, 300},    {33, 700, 100},   {1000, 17, 129},
      {96, 80, 1000},   {64, 1024, 256},  {256, 64, 4096}, {160, 160, 160}, {300, 200, 120},  {17, 2000, 64},   {2000, 20, 64}};
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  int split_cases = 0;
  for (const Shape& s : shapes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (const float alpha : {1.0f, 0.5f})
          for (const float beta : {0.0f, 1.0f}) {
            const int lda = (ta ? s.m : s.k) + 3, ldb = (tb ? s.k : s.n) + 1, ldc = s.n + 2;
            std::vector<float> a(static_cast<size_t>(ta ? s.k : s.m) * lda), b(static_cast<size_t>(tb ? s.n : s.k) * ldb),
                c0(static_cast<size_t>(s.m) * ldc);
            for (float& x : a) x = u(gen);
            for (float& x : b) x = u(gen);
            for (float& x : c0) x = u(gen);
            std::vector<std::vector<float>> results;
            for (const int threads : {1, 2, 3}) {
              ltrt::set_split_threads(threads);
              std::vector<float> c = c0;
              ltrt::sgemm_ld(ta, tb, s.m, s.n, s.k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
              results.push_back(std::move(c));
            }
            ltrt::set_split_threads(1);
            const std::string what = std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) +
                                     (ta ? " A^T" : " A") + (tb ? " B^T" : " B") + " alpha " + std::to_string(alpha) +
                                     " beta " + std::to_string(beta);
            for (size_t r = 1; same_bits && r < results.size(); ++r) {
              size_t differ = 0;
              for (size_t i = 0; i < results[0].size(); ++i)
                differ += std::memcmp(&results[0][i], &results[r][i], sizeof(float)) != 0;
              EXPECT_EQ(differ, 0u) << what << ": " << differ << " elements differ on " << r + 1 << " threads";
            }
            // The product itself (on 3 threads; the largest are left to the bit check), and the
            // padding of C's rows left alone.
            double worst = 0.0;
            const bool reference = std::int64_t{s.m} * s.n * s.k <= 20'000'000;
            for (int i = 0; i < s.m && reference; ++i)
              for (int j = 0; j < ldc; ++j) {
                const size_t at = static_cast<size_t>(i) * ldc + j;
                if (j >= s.n) {
                  EXPECT_EQ(results[2][at], c0[at]) << what << ": C's padding written at row " << i;
                  continue;
                }
                double sum = 0.0;
                for (int p = 0; p < s.k; ++p)
                  sum += static_cast<double>(ta ? a[static_cast<size_t>(p) * lda + i] : a[static_cast<size_t>(i) * lda + p]) *
                         (tb ? b[static_cast<size_t>(j) * ldb + p] : b[static_cast<size_t>(p) * ldb + j]);
                const double want = alpha * sum + beta * c0[at];
                worst = std::max(worst, std::fabs(results[2][at] - want) / (1.0 + std::fabs(want)));
              }
            EXPECT_LT(worst, 1e-4) << what;
            split_cases += std::int64_t{s.m} * s.n * s.k >= (std::int64_t{2} << 20);
          }
  EXPECT_GT(split_cases, 100) << "too few products large enough to split";
}

}  // namespace
