// exp_vec, expm1_vec, tanh_vec, erfc_vec, the activations built on them and sum_f64, against double precision.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "ltrt/activations.hpp"
#include "ltrt/reduce.hpp"
#include "ltrt/vector_math.hpp"

namespace {

// Relative error; for true values below 1e-30 (near float's smallest normal, 1.2e-38, where
// exp_vec returns 0 rather than subnormals) the absolute error against 1e-30 instead.
constexpr double kTiny = 1e-30;
double relative(double got, double want) { return std::fabs(got - want) / std::max(std::fabs(want), kTiny); }

TEST(VectorMath, ExpWithinTwoUlpOverTheNormalRange) {
  double worst = 0;
  for (double x = -87.0; x < 88.7; x += 0.000377) {
    const float xf = static_cast<float>(x);
    worst = std::max(worst, relative(ltrt::exp_vec(xf), std::exp(static_cast<double>(xf))));
  }
  EXPECT_LT(worst, 2 * 5.97e-8);  // 2 ulp (measured: 1.3)
}

TEST(VectorMath, ExpEdges) {
  EXPECT_EQ(ltrt::exp_vec(0.0f), 1.0f);
  EXPECT_EQ(ltrt::exp_vec(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(ltrt::exp_vec(-100.0f), 0.0f);  // below the normal range: 0 (exp is 3.7e-44)
  EXPECT_EQ(ltrt::exp_vec(std::numeric_limits<float>::infinity()), std::numeric_limits<float>::infinity());
  EXPECT_EQ(ltrt::exp_vec(89.0f), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(ltrt::exp_vec(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_LT(relative(ltrt::exp_vec(88.7f), std::exp(static_cast<double>(88.7f))), 2 * 5.97e-8);  // 2^128 in two factors
  EXPECT_LT(relative(ltrt::exp_vec(-87.3f), std::exp(static_cast<double>(-87.3f))), 2 * 5.97e-8);
}

// Error in units of the last place of the float nearest the true value, over every 61st float
// of a range (about 10^7 of them), checked in both signs.
template <typename F, typename Ref>
double worst_ulp(F f, Ref ref, float lo, float hi) {
  std::uint32_t bits_lo, bits_hi;
  std::memcpy(&bits_lo, &lo, 4);
  std::memcpy(&bits_hi, &hi, 4);
  double worst = 0;
  for (std::uint32_t b = bits_lo; b < bits_hi; b += 61) {
    float x;
    std::memcpy(&x, &b, 4);
    for (const float v : {x, -x}) {
      const double want = ref(static_cast<double>(v));
      const float nearest = static_cast<float>(want);
      const double ulp = std::fabs(static_cast<double>(std::nextafter(nearest, 2 * nearest)) - nearest);
      worst = std::max(worst, std::fabs(f(v) - want) / ulp);
    }
  }
  return worst;
}

TEST(VectorMath, Expm1WithinTwoUlp) {
  const auto f = [](float x) { return ltrt::expm1_vec(x); };
  const auto ref = [](double x) { return std::expm1(x); };
  EXPECT_LT(worst_ulp(f, ref, 1e-30f, 20.0f), 2.0);  // every float: 1.45
  EXPECT_EQ(ltrt::expm1_vec(0.0f), 0.0f);
  EXPECT_EQ(ltrt::expm1_vec(1e-20f), 1e-20f);
}

TEST(VectorMath, TanhWithinOneAndAHalfUlp) {
  const auto f = [](float x) { return ltrt::tanh_vec(x); };
  const auto ref = [](double x) { return std::tanh(x); };
  EXPECT_LT(worst_ulp(f, ref, 1e-30f, 12.0f), 1.5);  // every float: 1.5 (at 3.81); glibc's tanhf: 2.2
  EXPECT_EQ(ltrt::tanh_vec(0.0f), 0.0f);
  EXPECT_TRUE(std::signbit(ltrt::tanh_vec(-0.0f)));
  EXPECT_EQ(ltrt::tanh_vec(10.0f), 1.0f);
  EXPECT_EQ(ltrt::tanh_vec(-1e6f), -1.0f);
  EXPECT_EQ(ltrt::tanh_vec(std::numeric_limits<float>::infinity()), 1.0f);
  EXPECT_EQ(ltrt::tanh_vec(-std::numeric_limits<float>::infinity()), -1.0f);
  EXPECT_TRUE(std::isnan(ltrt::tanh_vec(std::numeric_limits<float>::quiet_NaN())));
}

TEST(VectorMath, ErfcRelativeErrorBelow4e7) {
  double worst = 0;
  for (double x = -9.0; x < 9.0; x += 0.0000913) {
    const float xf = static_cast<float>(x);
    worst = std::max(worst, relative(ltrt::erfc_vec(xf), std::erfc(static_cast<double>(xf))));
  }
  EXPECT_LT(worst, 4e-7);  // measured: 3.9e-7
  EXPECT_EQ(ltrt::erfc_vec(-std::numeric_limits<float>::infinity()), 2.0f);
  EXPECT_EQ(ltrt::erfc_vec(std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_TRUE(std::isnan(ltrt::erfc_vec(std::numeric_limits<float>::quiet_NaN())));
}

// GELU's formulas take float arguments (x / sqrt 2, -x^2 / 2, the tanh form's u) as torch's
// float kernels do; their rounding is the formula's, not the implementation's. So the references
// below evaluate the rest in double from those same float arguments, and the error is measured
// against the size of the terms summed (a derivative crosses 0, where relative error means nothing).
TEST(VectorMath, GeluAndItsGradientMatchDouble) {
  const float inv_sqrt2 = 0.7071067811865476f, inv_sqrt_2pi = 0.3989422804014327f;
  const float sqrt_2_over_pi = 0.7978845608028654f, cubic = 0.044715f;
  double worst[4] = {};
  for (double x = -12.0; x < 12.0; x += 0.000731) {
    const float xf = static_cast<float>(x);
    const double xd = xf;
    const double cdf = 0.5 * std::erfc(static_cast<double>(-xf * inv_sqrt2));
    const double xpdf = xd * inv_sqrt_2pi * std::exp(static_cast<double>(-0.5f * xf * xf));
    worst[0] = std::max(worst[0], relative(ltrt::gelu_erf(xf, inv_sqrt2), xd * cdf));
    worst[1] = std::max(worst[1], std::fabs(ltrt::gelu_erf_grad(xf, inv_sqrt2) - (cdf + xpdf)) /
                                      std::max(std::fabs(cdf) + std::fabs(xpdf), kTiny));
    const float x2 = xf * xf;
    const float u = sqrt_2_over_pi * (xf + cubic * x2 * xf);
    const double s = 1 / (1 + std::exp(-2.0 * u));  // 0.5 (1 + tanh u)
    const double right = 2 * xd * s * (1 - s) * sqrt_2_over_pi * (1 + 3 * cubic * xd * xd);
    worst[2] = std::max(worst[2], relative(ltrt::gelu_tanh(xf, sqrt_2_over_pi, cubic), xd * s));
    worst[3] = std::max(worst[3], std::fabs(ltrt::gelu_tanh_grad(xf, sqrt_2_over_pi, cubic) - (s + right)) /
                                      std::max(std::fabs(s) + std::fabs(right), kTiny));
  }
  EXPECT_LT(worst[0], 6e-7) << "gelu";
  EXPECT_LT(worst[1], 6e-7) << "gelu grad";
  EXPECT_LT(worst[2], 6e-7) << "gelu tanh";
  EXPECT_LT(worst[3], 6e-7) << "gelu tanh grad";
}

TEST(VectorMath, SigmoidAndSiluMatchDouble) {
  double worst = 0;
  for (double x = -80.0001; x < 80.0; x += 0.00137) {  // never exactly 0
    const float xf = static_cast<float>(x);
    const double s = 1 / (1 + std::exp(-static_cast<double>(xf)));
    worst = std::max(worst, relative(ltrt::sigmoid(xf), s));
    worst = std::max(worst, relative(ltrt::silu(xf), xf * s));
  }
  EXPECT_LT(worst, 3e-7);
}

TEST(Reduce, SumF64EqualsTheSumInEveryLengthAndTail) {
  std::vector<float> x(1000);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)) * 1e3);
  for (int len : {0, 1, 7, 8, 9, 15, 16, 17, 999, 1000}) {
    long double want = 0;
    for (int k = 0; k < len; ++k) want += x[static_cast<std::size_t>(k)];
    const double got = ltrt::sum_f64(len, [&](int k) { return static_cast<double>(x[static_cast<std::size_t>(k)]); });
    EXPECT_NEAR(got, static_cast<double>(want), 1e-9) << "len " << len;
  }
}

}  // namespace
