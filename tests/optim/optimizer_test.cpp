// Oracle test of the runtime's optimizers (ltrt::Optimizer: SGD, Adam, AdamW, RMSprop, Adagrad
// over the flat parameter / gradient / slot regions) against LibTorch's
// torch::optim: 10 steps with fixed random gradients, with the learning rate
// changed halfway as a scheduler would; after every step the parameters and
// every optimizer slot (momentum_buffer, exp_avg, exp_avg_sq, max_exp_avg_sq,
// square_avg, grad_avg, sum) must match within 1e-6 relative. Each case also runs with the parameters in two groups of their
// own lr and weight decay, laid out in another order (optimizer.param_groups).
//
// Adamax and RAdam are not here: LibTorch 1.13 has no C++ class for them (tests/e2e's parity
// specs check them against torch's Python optimizers, final weights included, and the Lightning
// tests against Lightning's). Not compared, because LibTorch 1.13's C++ optimizers lack them: maximize,
// foreach, fused, capturable and differentiable (Python-only options). Note
// also that the C++ Adam updates exp_avg as mul_(beta1).add_(grad, 1 - beta1)
// where Python (and ltrt) use exp_avg.lerp_(grad, 1 - beta1), and the C++
// centered RMSprop grad_avg likewise: equal up to float32 rounding, which the
// tolerance allows.
//
// The one LibTorch translation unit of this test.
#include <torch/torch.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <ltrt/arena.hpp>
#include <ltrt/model.hpp>
#include <ltrt/optimizer.hpp>

namespace {

constexpr double kTol = 1e-6;
constexpr int kSteps = 10;
constexpr int kLrChangeStep = 6;  // from this step on, lr is halved (as by a scheduler)

// A hand-made model with two parameters of odd sizes:
//   0    params  layer.weight [3, 5] (flat 0), layer.bias [7] (flat 15)
//   128  grads   same layout
//   256  slots   up to 3 regions of 22 floats
constexpr std::int64_t kNumel = 22;
constexpr std::size_t kParamsOffset = 0, kGradsOffset = 128, kSlotsOffset = 256, kArenaBytes = 1024;
const ltrt::ParamDef kParamDefs[] = {
    {{"layer.weight", ltrt::DType::f32, 2, {3, 5}, kParamsOffset}, 0},
    {{"layer.bias", ltrt::DType::f32, 1, {7}, kParamsOffset + 15 * 4}, 15},
};

struct Case {
  const char* name;
  ltrt::OptimizerConfig config;
};

ltrt::OptimizerConfig sgd(double lr, double momentum, double dampening, bool nesterov, double weight_decay) {
  ltrt::OptimizerConfig c{};
  c.kind = ltrt::OptimizerKind::sgd;
  c.lr = lr;
  c.momentum = momentum;
  c.dampening = dampening;
  c.nesterov = nesterov;
  c.weight_decay = weight_decay;
  return c;
}

ltrt::OptimizerConfig adam(ltrt::OptimizerKind kind, double lr, double beta1, double beta2, double eps,
                           double weight_decay, bool amsgrad) {
  ltrt::OptimizerConfig c{};
  c.kind = kind;
  c.lr = lr;
  c.beta1 = beta1;
  c.beta2 = beta2;
  c.eps = eps;
  c.weight_decay = weight_decay;
  c.amsgrad = amsgrad;
  return c;
}

ltrt::OptimizerConfig rmsprop(double lr, double alpha, double eps, double momentum, bool centered, double weight_decay) {
  ltrt::OptimizerConfig c{};
  c.kind = ltrt::OptimizerKind::rmsprop;
  c.lr = lr;
  c.alpha = alpha;
  c.eps = eps;
  c.momentum = momentum;
  c.centered = centered;
  c.weight_decay = weight_decay;
  return c;
}

ltrt::OptimizerConfig adagrad(double lr, double lr_decay, double initial_accumulator_value, double eps,
                              double weight_decay) {
  ltrt::OptimizerConfig c{};
  c.kind = ltrt::OptimizerKind::adagrad;
  c.lr = lr;
  c.lr_decay = lr_decay;
  c.initial_accumulator_value = initial_accumulator_value;
  c.eps = eps;
  c.weight_decay = weight_decay;
  return c;
}

constexpr auto kAdam = ltrt::OptimizerKind::adam;
constexpr auto kAdamW = ltrt::OptimizerKind::adamw;

const Case kCases[] = {
    {"sgd", sgd(0.1, 0, 0, false, 0)},
    {"sgd_weight_decay", sgd(0.1, 0, 0, false, 0.05)},
    {"sgd_momentum", sgd(0.1, 0.9, 0, false, 0)},
    {"sgd_momentum_dampening", sgd(0.05, 0.9, 0.3, false, 0)},
    {"sgd_nesterov", sgd(0.1, 0.9, 0, true, 0)},
    {"sgd_momentum_dampening_weight_decay", sgd(0.03, 0.8, 0.1, false, 0.01)},
    {"sgd_nesterov_weight_decay", sgd(0.07, 0.7, 0, true, 0.1)},
    {"adam", adam(kAdam, 1e-3, 0.9, 0.999, 1e-8, 0, false)},
    {"adam_lr_betas_eps", adam(kAdam, 0.02, 0.8, 0.99, 1e-6, 0, false)},
    {"adam_weight_decay", adam(kAdam, 0.01, 0.9, 0.999, 1e-8, 0.1, false)},
    {"adam_amsgrad", adam(kAdam, 0.01, 0.9, 0.999, 1e-8, 0, true)},
    {"adam_amsgrad_weight_decay", adam(kAdam, 0.01, 0.85, 0.995, 1e-7, 0.05, true)},
    {"adamw", adam(kAdamW, 1e-3, 0.9, 0.999, 1e-8, 0.01, false)},
    {"adamw_no_weight_decay", adam(kAdamW, 0.01, 0.9, 0.999, 1e-8, 0, false)},
    {"adamw_weight_decay_amsgrad", adam(kAdamW, 0.02, 0.8, 0.99, 1e-6, 0.1, true)},
    {"rmsprop", rmsprop(0.01, 0.99, 1e-8, 0, false, 0)},
    {"rmsprop_momentum", rmsprop(0.005, 0.9, 1e-6, 0.9, false, 0)},
    {"rmsprop_centered", rmsprop(0.01, 0.95, 1e-8, 0, true, 0.02)},
    {"rmsprop_centered_momentum_weight_decay", rmsprop(0.003, 0.8, 1e-7, 0.5, true, 0.1)},
    {"adagrad", adagrad(0.01, 0, 0, 1e-10, 0)},
    {"adagrad_lr_decay_initial", adagrad(0.05, 0.1, 0.3, 1e-10, 0)},
    {"adagrad_weight_decay_eps", adagrad(0.02, 0.01, 0, 1e-4, 0.05)},
};

// Failure messages show the case's name.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

double g_worst_rel = 0;
std::string g_worst_what;

class ReportWorst : public ::testing::Environment {
 public:
  void TearDown() override {
    std::printf("optimizer_test: largest relative error vs torch::optim: %.3e (%s)\n", g_worst_rel,
                g_worst_what.c_str());
  }
};
const auto* const g_report = ::testing::AddGlobalTestEnvironment(new ReportWorst);

// torch::optim's options for the configuration, with the given lr and weight decay.
std::unique_ptr<torch::optim::OptimizerOptions> torch_options(const ltrt::OptimizerConfig& c, double lr,
                                                              double weight_decay) {
  switch (c.kind) {
    case ltrt::OptimizerKind::sgd:
      return std::make_unique<torch::optim::SGDOptions>(
          torch::optim::SGDOptions(lr).momentum(c.momentum).dampening(c.dampening).nesterov(c.nesterov).weight_decay(
              weight_decay));
    case ltrt::OptimizerKind::adam:
      return std::make_unique<torch::optim::AdamOptions>(torch::optim::AdamOptions(lr)
                                                             .betas(std::make_tuple(c.beta1, c.beta2))
                                                             .eps(c.eps)
                                                             .weight_decay(weight_decay)
                                                             .amsgrad(c.amsgrad));
    case ltrt::OptimizerKind::adamw:
      return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(lr)
                                                              .betas(std::make_tuple(c.beta1, c.beta2))
                                                              .eps(c.eps)
                                                              .weight_decay(weight_decay)
                                                              .amsgrad(c.amsgrad));
    case ltrt::OptimizerKind::rmsprop:
      return std::make_unique<torch::optim::RMSpropOptions>(torch::optim::RMSpropOptions(lr)
                                                                .alpha(c.alpha)
                                                                .eps(c.eps)
                                                                .weight_decay(weight_decay)
                                                                .momentum(c.momentum)
                                                                .centered(c.centered));
    case ltrt::OptimizerKind::adagrad:
      return std::make_unique<torch::optim::AdagradOptions>(torch::optim::AdagradOptions(lr)
                                                                .lr_decay(c.lr_decay)
                                                                .weight_decay(weight_decay)
                                                                .initial_accumulator_value(c.initial_accumulator_value)
                                                                .eps(c.eps));
  }
  return nullptr;
}

// One torch parameter group: its tensors, lr and weight decay.
struct TorchGroup {
  std::vector<torch::Tensor> params;
  double lr, weight_decay;
};

// torch::optim for the configuration over parameter groups.
std::unique_ptr<torch::optim::Optimizer> make_torch_optimizer(const ltrt::OptimizerConfig& c,
                                                              const std::vector<TorchGroup>& groups) {
  std::vector<torch::optim::OptimizerParamGroup> g;
  for (const TorchGroup& group : groups) g.emplace_back(group.params, torch_options(c, group.lr, group.weight_decay));
  switch (c.kind) {
    case ltrt::OptimizerKind::sgd:
      return std::make_unique<torch::optim::SGD>(
          g, static_cast<const torch::optim::SGDOptions&>(*torch_options(c, c.lr, c.weight_decay)));
    case ltrt::OptimizerKind::adam:
      return std::make_unique<torch::optim::Adam>(
          g, static_cast<const torch::optim::AdamOptions&>(*torch_options(c, c.lr, c.weight_decay)));
    case ltrt::OptimizerKind::adamw:
      return std::make_unique<torch::optim::AdamW>(
          g, static_cast<const torch::optim::AdamWOptions&>(*torch_options(c, c.lr, c.weight_decay)));
    case ltrt::OptimizerKind::rmsprop:
      return std::make_unique<torch::optim::RMSprop>(
          g, static_cast<const torch::optim::RMSpropOptions&>(*torch_options(c, c.lr, c.weight_decay)));
    case ltrt::OptimizerKind::adagrad:
      return std::make_unique<torch::optim::Adagrad>(
          g, static_cast<const torch::optim::AdagradOptions&>(*torch_options(c, c.lr, c.weight_decay)));
  }
  return nullptr;
}

void set_torch_lr(torch::optim::Optimizer& opt, const ltrt::OptimizerConfig& c, std::size_t group, double lr) {
  {
    auto& options = opt.param_groups().at(group).options();
    switch (c.kind) {
      case ltrt::OptimizerKind::sgd: static_cast<torch::optim::SGDOptions&>(options).lr(lr); break;
      case ltrt::OptimizerKind::adam: static_cast<torch::optim::AdamOptions&>(options).lr(lr); break;
      case ltrt::OptimizerKind::adamw: static_cast<torch::optim::AdamWOptions&>(options).lr(lr); break;
      case ltrt::OptimizerKind::rmsprop: static_cast<torch::optim::RMSpropOptions&>(options).lr(lr); break;
      case ltrt::OptimizerKind::adagrad: static_cast<torch::optim::AdagradOptions&>(options).lr(lr); break;
    }
  }
}

// torch's state tensor `slot` of parameter p (undefined when absent).
torch::Tensor torch_slot(torch::optim::Optimizer& opt, const ltrt::OptimizerConfig& c, const torch::Tensor& p,
                         const std::string& slot) {
  auto& state = opt.state();
  const auto it = state.find(c10::guts::to_string(p.unsafeGetTensorImpl()));
  if (it == state.end()) return {};
  if (c.kind == ltrt::OptimizerKind::sgd) {
    auto& s = static_cast<torch::optim::SGDParamState&>(*it->second);
    return slot == "momentum_buffer" ? s.momentum_buffer() : torch::Tensor();
  }
  if (c.kind == ltrt::OptimizerKind::adam) {
    auto& s = static_cast<torch::optim::AdamParamState&>(*it->second);
    if (slot == "exp_avg") return s.exp_avg();
    if (slot == "exp_avg_sq") return s.exp_avg_sq();
    if (slot == "max_exp_avg_sq") return s.max_exp_avg_sq();
    return {};
  }
  if (c.kind == ltrt::OptimizerKind::rmsprop) {
    auto& s = static_cast<torch::optim::RMSpropParamState&>(*it->second);
    if (slot == "square_avg") return s.square_avg();
    if (slot == "momentum_buffer") return s.momentum_buffer();
    if (slot == "grad_avg") return s.grad_avg();
    return {};
  }
  if (c.kind == ltrt::OptimizerKind::adagrad) {
    auto& s = static_cast<torch::optim::AdagradParamState&>(*it->second);
    return slot == "sum" ? s.sum() : torch::Tensor();
  }
  auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
  if (slot == "exp_avg") return s.exp_avg();
  if (slot == "exp_avg_sq") return s.exp_avg_sq();
  if (slot == "max_exp_avg_sq") return s.max_exp_avg_sq();
  return {};
}

// max|a - b| / max(max|b|, 1e-6).
double rel_diff(const float* a, const torch::Tensor& b_any, double* max_abs) {
  const torch::Tensor b = b_any.to(torch::kDouble).contiguous().view(-1);
  const double* bd = b.data_ptr<double>();
  double diff = 0, scale = 0;
  for (std::int64_t i = 0; i < b.numel(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - bd[i]));
    if (!std::isfinite(a[i])) diff = INFINITY;
    scale = std::max(scale, std::fabs(bd[i]));
  }
  *max_abs = diff;
  return diff / std::max(scale, 1e-6);
}

// The same two parameters in two optimizer groups laid out bias first: the bias (flat 0..6) at
// twice the case's lr without weight decay, the weight (flat 7..21) at its lr with its weight decay
// plus 0.07.
const ltrt::ParamDef kGroupedParamDefs[] = {
    {{"layer.weight", ltrt::DType::f32, 2, {3, 5}, kParamsOffset + 7 * 4}, 7},
    {{"layer.bias", ltrt::DType::f32, 1, {7}, kParamsOffset}, 0},
};

// Steps ltrt's optimizer and torch's side by side over `defs` (kParamDefs or kGroupedParamDefs:
// one group, or the two groups above) and compares parameters and slots after every step.
void run_case(const Case& tc, bool grouped) {
  torch::set_num_threads(1);
  const ltrt::ParamDef* defs = grouped ? kGroupedParamDefs : kParamDefs;
  const double weight_decays[2] = {tc.config.weight_decay + 0.07, 0.0};  // weight's group, bias's group
  const double lrs[2] = {tc.config.lr, 2 * tc.config.lr};
  const ltrt::ParamGroupDef groups[2] = {{"no_decay", lrs[1], weight_decays[1], 0, 7},
                                         {nullptr, lrs[0], weight_decays[0], 7, 15}};

  const std::vector<std::string> slot_names = ltrt::optimizer_slot_names(tc.config);
  std::vector<const char*> slot_ptrs;
  for (const auto& s : slot_names) slot_ptrs.push_back(s.c_str());
  ltrt::ModelDef m{};
  m.name = "optimizer_test";
  m.arena_bytes = kArenaBytes;
  m.params = defs;
  m.num_params = 2;
  if (grouped) {
    m.param_groups = groups;
    m.num_param_groups = 2;
  }
  m.num_param_elements = kNumel;
  m.params_offset = kParamsOffset;
  m.grads_offset = kGradsOffset;
  m.slots_offset = kSlotsOffset;
  m.num_slots = static_cast<int>(slot_ptrs.size());
  m.slot_names = slot_ptrs.data();
  m.optimizer = tc.config;
  ASSERT_LE(kSlotsOffset + sizeof(float) * kNumel * slot_ptrs.size(), kArenaBytes);

  ltrt::Arena arena(m.arena_bytes);
  std::byte* a = arena.data();
  ltrt::Optimizer opt(m, a);

  torch::manual_seed(7);
  std::vector<torch::Tensor> params;
  for (int k = 0; k < 2; ++k) {
    const ltrt::ParamDef& pd = defs[k];
    const auto t = torch::randn(std::vector<std::int64_t>(pd.value.shape, pd.value.shape + pd.value.rank));
    std::memcpy(a + pd.value.offset, t.data_ptr<float>(), sizeof(float) * t.numel());
    params.push_back(t.clone().requires_grad_(true));
  }
  const auto topt = grouped ? make_torch_optimizer(tc.config, {{{params[1]}, lrs[1], weight_decays[1]},
                                                               {{params[0]}, lrs[0], weight_decays[0]}})
                            : make_torch_optimizer(tc.config, {{params, tc.config.lr, tc.config.weight_decay}});

  std::printf("%s%s (%s, %zu slots)\n", tc.name, grouped ? " in two groups" : "", ltrt::optimizer_name(tc.config.kind),
              slot_names.size());
  for (int step = 1; step <= kSteps; ++step) {
    if (step == kLrChangeStep) {  // each group's lr halved, as a scheduler per group would
      for (int g = 0; g < opt.num_groups(); ++g) {
        const double halved = opt.lr(g) * 0.5;
        opt.set_lr(g, halved);
        set_torch_lr(*topt, tc.config, static_cast<std::size_t>(g), halved);
      }
    }
    // The same gradients for both; their scale changes from step to step so
    // that amsgrad's running maximum matters.
    const double g_scale = 0.2 + (step % 3);
    for (std::size_t k = 0; k < params.size(); ++k) {
      const auto g = torch::randn(params[k].sizes()) * g_scale;
      std::memcpy(a + m.grads_offset + 4 * defs[k].flat_index, g.data_ptr<float>(), sizeof(float) * g.numel());
      params[k].mutable_grad() = g.clone();
    }
    opt.step();
    topt->step();
    EXPECT_EQ(opt.step_count(), step);

    double worst = 0;
    std::string worst_what;
    for (std::size_t k = 0; k < params.size(); ++k) {
      const ltrt::ParamDef& pd = defs[k];
      auto check = [&](const std::string& what, const float* got, const torch::Tensor& want) {
        ASSERT_TRUE(want.defined()) << what << " missing in torch's state";
        double max_abs = 0;
        const double rel = rel_diff(got, want.detach(), &max_abs);
        const std::string where = std::string(tc.name) + (grouped ? " grouped" : "") + " step " + std::to_string(step) + " " + what;
        if (rel >= worst) worst = rel, worst_what = what;
        if (rel >= g_worst_rel) g_worst_rel = rel, g_worst_what = where;
        EXPECT_LE(rel, kTol) << where << ": max|diff| " << max_abs;
      };
      check(std::string(pd.value.name), reinterpret_cast<const float*>(a + pd.value.offset), params[k]);
      for (std::size_t s = 0; s < slot_names.size(); ++s) {
        check(std::string(pd.value.name) + "." + slot_names[s],
              ltrt::slot_region(m, a, static_cast<int>(s)) + pd.flat_index,
              torch_slot(*topt, tc.config, params[k], slot_names[s]));
      }
    }
    std::printf("  step %2d lr %-8g max rel diff %.2e (%s)\n", step, opt.lr(), worst, worst_what.c_str());
  }
}

class OptimizerOracle : public ::testing::TestWithParam<Case> {};

TEST_P(OptimizerOracle, MatchesTorchOptim) { run_case(GetParam(), false); }

// optimizer.param_groups: the groups' ranges stepped with their own weight decay, as torch's groups.
TEST_P(OptimizerOracle, MatchesTorchParamGroups) { run_case(GetParam(), true); }

std::string case_name(const ::testing::TestParamInfo<Case>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(TorchOptim, OptimizerOracle, ::testing::ValuesIn(kCases), case_name);

}  // namespace
