// SGD / Adam / AdamW against torch.optim's update formulas, written out in
// float64 for a few steps (LibTorch comparisons live elsewhere).
#include "ltrt/optimizer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "ltrt/adam.hpp"
#include "ltrt/arena.hpp"
#include "ltrt/error.hpp"
#include "ltrt/sgd.hpp"
#include "toy_model.hpp"

namespace {

const std::vector<double> kInit = {0.5, -1.25, 2.0, 0.0, -0.75};
// A different gradient every step, as a training run would have.
double grad_at(int step, std::size_t i) { return std::sin(1.0 + 0.7 * step + 1.3 * static_cast<double>(i)) * (1.0 + i); }

void expect_close(const std::vector<float>& got, const std::vector<double>& want, const char* what, int step) {
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double tol = 1e-5 * std::max(1.0, std::fabs(want[i]));
    EXPECT_NEAR(got[i], want[i], tol) << what << " element " << i << " after step " << step;
  }
}

struct SgdCase {
  ltrt::SgdArgs args;
};

void run_sgd(const ltrt::SgdArgs& a) {
  const std::size_t n = kInit.size();
  std::vector<float> p(kInit.begin(), kInit.end()), g(n), buf(n, 0.f);
  std::vector<double> rp = kInit, rbuf(n, 0.0);
  for (int step = 0; step < 5; ++step) {
    for (std::size_t i = 0; i < n; ++i) g[i] = static_cast<float>(grad_at(step, i));
    ltrt::sgd_step(p.data(), g.data(), a.momentum != 0 ? buf.data() : nullptr, static_cast<std::int64_t>(n), a, step == 0);
    for (std::size_t i = 0; i < n; ++i) {
      double d = a.maximize ? -static_cast<double>(g[i]) : g[i];
      if (a.weight_decay != 0) d += a.weight_decay * rp[i];
      if (a.momentum != 0) {
        rbuf[i] = step == 0 ? d : a.momentum * rbuf[i] + (1 - a.dampening) * d;
        d = a.nesterov ? d + a.momentum * rbuf[i] : rbuf[i];
      }
      rp[i] -= a.lr * d;
    }
    expect_close(p, rp, "param", step);
  }
}

TEST(Sgd, Plain) { run_sgd({0.1, 0, 0, 0, false, false}); }
TEST(Sgd, Momentum) { run_sgd({0.05, 0.9, 0, 0, false, false}); }
TEST(Sgd, MomentumDampening) { run_sgd({0.05, 0.9, 0.3, 0, false, false}); }
TEST(Sgd, Nesterov) { run_sgd({0.05, 0.9, 0, 0, true, false}); }
TEST(Sgd, WeightDecay) { run_sgd({0.05, 0.5, 0.1, 0.01, false, false}); }
TEST(Sgd, Maximize) { run_sgd({0.05, 0.9, 0, 0.01, true, true}); }

TEST(Sgd, FirstStepBufferIsTheGradientWithoutDampening) {
  float p = 1.0f, g = 2.0f, buf = 123.0f;
  ltrt::sgd_step(&p, &g, &buf, 1, {0.1, 0.9, 0.5, 0, false, false}, true);
  EXPECT_EQ(buf, 2.0f);
  EXPECT_FLOAT_EQ(p, 1.0f - 0.1f * 2.0f);
}

void run_adam(const ltrt::AdamArgs& a) {
  const std::size_t n = kInit.size();
  std::vector<float> p(kInit.begin(), kInit.end()), g(n), m(n, 0.f), v(n, 0.f), vmax(n, 0.f);
  std::vector<double> rp = kInit, rm(n, 0.0), rv(n, 0.0), rvmax(n, 0.0);
  for (int step = 1; step <= 6; ++step) {
    for (std::size_t i = 0; i < n; ++i) g[i] = static_cast<float>(grad_at(step, i) * (step == 3 ? 0.01 : 1.0));
    ltrt::adam_step(p.data(), g.data(), m.data(), v.data(), a.amsgrad ? vmax.data() : nullptr,
                    static_cast<std::int64_t>(n), a, step);
    const double bc1 = 1 - std::pow(a.beta1, step), bc2 = 1 - std::pow(a.beta2, step);
    for (std::size_t i = 0; i < n; ++i) {
      double d = a.maximize ? -static_cast<double>(g[i]) : g[i];
      if (a.weight_decay != 0) {
        if (a.decoupled_weight_decay) {
          rp[i] *= 1 - a.lr * a.weight_decay;
        } else {
          d += a.weight_decay * rp[i];
        }
      }
      rm[i] = a.beta1 * rm[i] + (1 - a.beta1) * d;
      rv[i] = a.beta2 * rv[i] + (1 - a.beta2) * d * d;
      double vhat = rv[i];
      if (a.amsgrad) vhat = rvmax[i] = std::max(rvmax[i], rv[i]);
      const double denom = std::sqrt(vhat) / std::sqrt(bc2) + a.eps;
      rp[i] -= a.lr / bc1 * rm[i] / denom;
    }
    expect_close(p, rp, "param", step);
    expect_close(m, rm, "exp_avg", step);
    expect_close(v, rv, "exp_avg_sq", step);
  }
}

TEST(Adam, Defaults) { run_adam({0.001, 0.9, 0.999, 1e-8, 0, false, false, false}); }
TEST(Adam, LargeLrAndBetas) { run_adam({0.1, 0.8, 0.99, 1e-6, 0, false, false, false}); }
TEST(Adam, WeightDecay) { run_adam({0.01, 0.9, 0.999, 1e-8, 0.1, false, false, false}); }
TEST(Adam, Amsgrad) { run_adam({0.01, 0.9, 0.999, 1e-8, 0, true, false, false}); }
TEST(Adam, Maximize) { run_adam({0.01, 0.9, 0.999, 1e-8, 0.05, true, true, false}); }
TEST(AdamW, DecoupledWeightDecay) { run_adam({0.01, 0.9, 0.999, 1e-8, 0.01, false, false, true}); }
TEST(AdamW, Amsgrad) { run_adam({0.01, 0.9, 0.999, 1e-8, 0.1, true, false, true}); }

TEST(Adam, FirstStepMovesBySignTimesLr) {
  // exp_avg = 0.1 g, exp_avg_sq = 0.001 g^2, bias corrections 0.1 / 0.001:
  // the step is -lr * g / (|g| + eps).
  float p[2] = {1.0f, 1.0f}, g[2] = {3.0f, -0.5f}, m[2] = {}, v[2] = {};
  ltrt::adam_step(p, g, m, v, nullptr, 2, {0.01, 0.9, 0.999, 1e-8, 0, false, false, false}, 1);
  EXPECT_NEAR(p[0], 0.99f, 1e-6);
  EXPECT_NEAR(p[1], 1.01f, 1e-6);
}

TEST(Optimizer, SlotNamesFollowTorchState) {
  ltrt::OptimizerConfig c{};
  c.kind = ltrt::OptimizerKind::sgd;
  EXPECT_TRUE(ltrt::optimizer_slot_names(c).empty());
  c.momentum = 0.9;
  EXPECT_EQ(ltrt::optimizer_slot_names(c), std::vector<std::string>{"momentum_buffer"});
  c.kind = ltrt::OptimizerKind::adamw;
  EXPECT_EQ(ltrt::optimizer_slot_names(c), (std::vector<std::string>{"exp_avg", "exp_avg_sq"}));
  c.amsgrad = true;
  EXPECT_EQ(ltrt::optimizer_slot_names(c), (std::vector<std::string>{"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}));
  EXPECT_STREQ(ltrt::optimizer_name(ltrt::OptimizerKind::adamw), "AdamW");
}

TEST(Optimizer, StepsTheFlatRegionsAndCountsSteps) {
  ltrt::ModelDef model = toy::make_model("unused");
  ltrt::Arena arena(model.arena_bytes);
  float* p = ltrt::param_region(model, arena.data());
  float* g = ltrt::grad_region(model, arena.data());
  p[0] = 1.0f;
  p[1] = 2.0f;
  g[0] = 0.5f;
  g[1] = -0.5f;
  ltrt::Optimizer opt(model, arena.data());
  EXPECT_EQ(opt.step_count(), 0);
  opt.step();
  EXPECT_EQ(opt.step_count(), 1);
  EXPECT_NEAR(p[0], 1.0f - 0.01f, 1e-6);
  EXPECT_NEAR(p[1], 2.0f + 0.01f, 1e-6);
  EXPECT_FLOAT_EQ(ltrt::slot_region(model, arena.data(), 0)[0], 0.05f);     // exp_avg
  EXPECT_FLOAT_EQ(ltrt::slot_region(model, arena.data(), 1)[1], 0.00025f);  // exp_avg_sq
}

TEST(Optimizer, SgdThroughTheDispatcher) {
  ltrt::ModelDef model = toy::make_model("unused");
  static const char* const kSlots[] = {"momentum_buffer"};
  model.optimizer = {};
  model.optimizer.kind = ltrt::OptimizerKind::sgd;
  model.optimizer.lr = 0.1;
  model.optimizer.momentum = 0.9;
  model.num_slots = 1;
  model.slot_names = kSlots;
  ltrt::Arena arena(model.arena_bytes);
  float* p = ltrt::param_region(model, arena.data());
  float* g = ltrt::grad_region(model, arena.data());
  g[0] = 1.0f;
  ltrt::Optimizer opt(model, arena.data());
  opt.step();  // buf = 1, p = -0.1
  opt.step();  // buf = 1.9, p = -0.29
  EXPECT_NEAR(p[0], -0.29f, 1e-6);
  EXPECT_NEAR(ltrt::slot_region(model, arena.data(), 0)[0], 1.9f, 1e-6);
}

TEST(Optimizer, MismatchedSlotsAreAnError) {
  ltrt::ModelDef model = toy::make_model("unused");
  model.optimizer.amsgrad = true;  // needs 3 slots, the model has 2
  ltrt::Arena arena(model.arena_bytes);
  try {
    ltrt::Optimizer opt(model, arena.data());
    FAIL() << "expected an error";
  } catch (const ltrt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("max_exp_avg_sq"), std::string::npos) << e.what();
  }
}

}  // namespace
