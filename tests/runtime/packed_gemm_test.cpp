// ltrt/packed_gemm.hpp against a plain triple loop in double: every shape's remainders (rows past
// a block of 8, columns past a panel of 32), strided A and C, B as given or transposed, beta 0
// (C not read: NaN there stays out), 1 and another value.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>
#include <random>
#include <vector>

#include "ltrt/packed_gemm.hpp"
#include "ltrt/workers.hpp"

namespace {

struct Case {
  int m, n, k;
  bool trans_b;
  float beta;
};

void check_case(const Case& t) {
  std::mt19937 gen(static_cast<unsigned>(t.m * 131 + t.n * 17 + t.k));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int lda = t.k + 3, ldc = t.n + 5, ldb = t.trans_b ? t.k + 2 : t.n + 2;
  std::vector<float> a(static_cast<size_t>(t.m) * lda), b(static_cast<size_t>(t.trans_b ? t.n : t.k) * ldb),
      c(static_cast<size_t>(t.m) * ldc);
  for (float& x : a) x = u(gen);
  for (float& x : b) x = u(gen);
  for (float& x : c) x = t.beta == 0.0f ? std::numeric_limits<float>::quiet_NaN() : u(gen);
  const std::vector<float> c0 = c;
  std::vector<float> packed(ltrt::packed_size(t.k, t.n), -7.0f);
  ltrt::pack_b(t.trans_b, t.k, t.n, b.data(), ldb, packed.data());
  ltrt::gemm_packed(t.m, t.n, t.k, a.data(), lda, packed.data(), t.beta, c.data(), ldc);
  for (int i = 0; i < t.m; ++i)
    for (int j = 0; j < ldc; ++j) {
      const size_t at = static_cast<size_t>(i) * ldc + j;
      if (j >= t.n) {  // past n: untouched
        EXPECT_TRUE(std::isnan(c[at]) ? std::isnan(c0[at]) : c[at] == c0[at]) << "m=" << t.m << " n=" << t.n;
        continue;
      }
      double want = t.beta == 0.0f ? 0.0 : static_cast<double>(t.beta) * c0[at];
      double scale = std::abs(want);
      for (int p = 0; p < t.k; ++p) {
        const double bv = t.trans_b ? b[static_cast<size_t>(j) * ldb + p] : b[static_cast<size_t>(p) * ldb + j];
        want += static_cast<double>(a[static_cast<size_t>(i) * lda + p]) * bv;
        scale += std::abs(static_cast<double>(a[static_cast<size_t>(i) * lda + p]) * bv);
      }
      ASSERT_NEAR(c[at], want, 4e-7 * scale + 1e-30)
          << "m=" << t.m << " n=" << t.n << " k=" << t.k << " trans_b=" << t.trans_b << " beta=" << t.beta << " at (" << i
          << ", " << j << ")";
    }
}

TEST(PackedGemm, MatchesAPlainProductAtEveryRemainder) {
  for (int m : {1, 3, 7, 8, 9, 16, 17})
    for (int n : {1, 5, 31, 32, 33, 64, 70})
      for (int k : {1, 4, 37})
        for (bool trans_b : {false, true})
          for (float beta : {0.0f, 1.0f, 0.5f}) check_case({m, n, k, trans_b, beta});
}

TEST(PackedGemm, SplitAmongThreadsGivesTheSameBits) {
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int m = 13, n = 200, k = 70;  // 7 panels, the last one partial
  std::vector<float> a(static_cast<size_t>(m) * k), b(static_cast<size_t>(n) * k), c0(static_cast<size_t>(m) * n);
  for (float& x : a) x = u(gen);
  for (float& x : b) x = u(gen);
  for (float& x : c0) x = u(gen);
  std::vector<float> packed(ltrt::packed_size(k, n));
  ltrt::pack_b(true, k, n, b.data(), k, packed.data());
  for (float beta : {1.0f, 0.0f}) {  // beta 0: C holds NaN, which no part may read
    std::vector<float> start = c0;
    if (beta == 0.0f) std::fill(start.begin(), start.end(), std::numeric_limits<float>::quiet_NaN());
    std::vector<float> one = start;
    ltrt::gemm_packed(m, n, k, a.data(), k, packed.data(), beta, one.data(), n);
    for (int threads : {1, 2, 3, 8, 12}) {  // 12: more threads than the 7 panels
      ltrt::Workers workers(threads);
      for (int round = 0; round < 200; ++round) {  // many calls: each must see its own job, none a stale one
        std::vector<float> split = start;
        ltrt::gemm_packed_split(workers, m, n, k, a.data(), k, packed.data(), beta, split.data(), n);
        ASSERT_EQ(split, one) << threads << " threads, beta " << beta << ", round " << round;
      }
    }
  }
}

TEST(Workers, RunsEveryPartOnceACall) {
  ltrt::Workers workers(4);
  ASSERT_EQ(workers.threads(), 4);
  struct Counts {
    std::atomic<int> part[4];
  } counts{};
  for (int call = 1; call <= 2000; ++call) {
    workers.run([](void* context, int part, int parts) noexcept {
      if (parts == 4) static_cast<Counts*>(context)->part[part].fetch_add(1);
    }, &counts, 4);
    for (int p = 0; p < 4; ++p) ASSERT_EQ(counts.part[p].load(), call) << "part " << p;
    if (call % 500 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // helpers asleep, then woken
  }
}

TEST(PackedGemm, PackedSizeRoundsColumnsUpToPanels) {
  EXPECT_EQ(ltrt::packed_size(3, 1), 3u * 32u);
  EXPECT_EQ(ltrt::packed_size(3, 32), 3u * 32u);
  EXPECT_EQ(ltrt::packed_size(3, 33), 3u * 64u);
}

}  // namespace
