// The scalar activations of ltrt/activations.hpp at their kinks and thresholds, where random
// inputs never land, against torch 2.15's own values and autograd gradients (recorded with
// torch.nn.functional on float32 tensors; the gradcheck tests cover everything between).
#include "ltrt/activations.hpp"

#include <gtest/gtest.h>

namespace {

constexpr float kTol = 2e-7f;  // relative: a float32 ulp or so

void expect_near(float got, float want, const char* what, float x) {
  EXPECT_NEAR(got, want, kTol * std::max(1.0f, std::fabs(want))) << what << " at " << x;
}

struct Case {
  float x, y, dy;  // torch's value and gradient at x
};

TEST(Activations, HardswishAndHardsigmoidAtTheirKinks) {
  // torch 2.x: Hardswish's gradient is 0 at -3 and 1 at 3 (torch 1.13 gave -0.5 and 1.5).
  for (const Case& c : {Case{-3.0f, 0.0f, 0.0f}, Case{3.0f, 3.0f, 1.0f}, Case{-4.0f, 0.0f, 0.0f},
                        Case{4.0f, 4.0f, 1.0f}, Case{0.0f, 0.0f, 0.5f}}) {
    expect_near(ltrt::hardswish(c.x), c.y, "hardswish", c.x);
    expect_near(ltrt::hardswish_grad(c.x), c.dy, "hardswish_grad", c.x);
  }
  for (const Case& c : {Case{-3.0f, 0.0f, 0.0f}, Case{3.0f, 1.0f, 0.0f}, Case{0.0f, 0.5f, 0.166666672f}}) {
    expect_near(ltrt::hardsigmoid(c.x), c.y, "hardsigmoid", c.x);
    expect_near(ltrt::hardsigmoid_grad(c.x), c.dy, "hardsigmoid_grad", c.x);
  }
}

TEST(Activations, EluFamilyAtZero) {
  // ELU(alpha=0.7): neg = alpha, pos = 1, input_scale = 1.
  for (const Case& c : {Case{0.0f, 0.0f, 0.699999988f}, Case{-1.0f, -0.442484379f, 0.257515609f}}) {
    expect_near(ltrt::elu(c.x, 0.7f, 1.0f, 1.0f), c.y, "elu", c.x);
    expect_near(ltrt::elu_grad(c.x, 0.7f, 1.0f, 1.0f), c.dy, "elu_grad", c.x);
  }
  // CELU(alpha=1.3): input_scale = 1 / alpha.
  const float inv = 1.0f / 1.3f;
  for (const Case& c : {Case{0.0f, 0.0f, 1.0f}, Case{-1.0f, -0.697619796f, 0.46336937f}}) {
    expect_near(ltrt::elu(c.x, 1.3f, 1.0f, inv), c.y, "celu", c.x);
    expect_near(ltrt::elu_grad(c.x, 1.3f, 1.0f, inv), c.dy, "celu_grad", c.x);
  }
  // inplace=True: the gradient from the result, torch's is_result formula.
  expect_near(ltrt::elu_grad_from_result(-0.442484379f, 0.7f, 1.0f, 1.0f), 0.257515609f, "elu_grad_from_result", -1.0f);
  expect_near(ltrt::elu_grad_from_result(0.0f, 0.7f, 1.0f, 1.0f), 0.699999988f, "elu_grad_from_result", 0.0f);
}

TEST(Activations, SoftplusAtItsThreshold) {
  // beta 2, threshold 1: beta x == threshold still takes the log1p branch (torch's test is >).
  for (const Case& c : {Case{0.5f, 0.656630814f, 0.731058598f}, Case{0.25f, 0.487038493f, 0.622459352f},
                        Case{0.75f, 0.75f, 1.0f}}) {
    expect_near(ltrt::softplus(c.x, 2.0f, 1.0f), c.y, "softplus", c.x);
    expect_near(ltrt::softplus_grad(c.x, 2.0f, 1.0f), c.dy, "softplus_grad", c.x);
  }
}

TEST(Activations, SmoothOnesAtZeroAndBeyond) {
  for (const Case& c : {Case{0.0f, -0.693147182f, 0.5f}, Case{-2.0f, -2.12692809f, 0.880797088f},
                        Case{2.0f, -0.126928017f, 0.119202919f}}) {
    expect_near(ltrt::log_sigmoid(c.x), c.y, "log_sigmoid", c.x);
    expect_near(ltrt::log_sigmoid_grad(c.x), c.dy, "log_sigmoid_grad", c.x);
  }
  for (const Case& c : {Case{0.0f, 0.0f, 1.0f}, Case{-2.0f, -0.666666687f, 0.111111119f}}) {
    expect_near(ltrt::softsign(c.x), c.y, "softsign", c.x);
    expect_near(ltrt::softsign_grad(c.x), c.dy, "softsign_grad", c.x);
  }
  for (const Case& c : {Case{0.0f, 0.0f, 0.600000024f}, Case{-1.0f, -0.30340144f, 0.0592167303f}}) {
    expect_near(ltrt::mish(c.x), c.y, "mish", c.x);
    expect_near(ltrt::mish_grad(c.x), c.dy, "mish_grad", c.x);
  }
}

}  // namespace
