// LR schedulers: torch's values on small hand-checked cases, state()/load_state()
// resume, argument errors. The float-for-float comparison with torch over many
// configurations is lr_scheduler_oracle.py (CTest lr_scheduler_oracle).
#include "ltrt/lr_scheduler.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ltrt/error.hpp"
#include "ltrt/json.hpp"
#include "test_util.hpp"

namespace {

using ltrt::LrScheduler;
using ltrt::SchedulerSpec;
using ltrt::json::Value;

SchedulerSpec spec(const std::string& type, const std::string& args_json) {
  return SchedulerSpec{type, ltrt::json::parse(args_json)};
}

// The lr after construction and after each of `steps` steps.
std::vector<double> run(LrScheduler& s, int steps, const std::vector<double>& metrics = {}) {
  std::vector<double> out{s.lr()};
  for (int t = 0; t < steps; ++t) {
    if (metrics.empty()) s.step(); else s.step(metrics[t]);
    out.push_back(s.lr());
  }
  return out;
}

std::vector<double> run(const SchedulerSpec& sp, double base_lr, int steps, const std::vector<double>& metrics = {}) {
  auto s = LrScheduler::create(sp, base_lr);
  return run(*s, steps, metrics);
}

void expect_near_seq(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-12 * std::max(1.0, std::fabs(want[i]))) << "at index " << i;
}

std::string error_of(const SchedulerSpec& sp, double base_lr = 0.1) {
  try {
    LrScheduler::create(sp, base_lr);
  } catch (const ltrt::Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(LrScheduler, StepLrDecaysEveryStepSize) {
  expect_near_seq(run(spec("StepLR", R"({"step_size": 2, "gamma": 0.5})"), 1.0, 6),
                  {1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125});
}

TEST(LrScheduler, MultiStepLrCountsRepeatedMilestones) {
  expect_near_seq(run(spec("MultiStepLR", R"({"milestones": [2, 4, 4], "gamma": 0.5})"), 1.0, 5),
                  {1.0, 1.0, 0.5, 0.5, 0.125, 0.125});
}

TEST(LrScheduler, ExponentialLr) {
  expect_near_seq(run(spec("ExponentialLR", R"({"gamma": 0.5})"), 0.8, 3), {0.8, 0.4, 0.2, 0.1});
}

TEST(LrScheduler, ConstantLrRestoresAtTotalIters) {
  // torch's docstring example: factor 0.5, total_iters 4, lr 0.05.
  expect_near_seq(run(spec("ConstantLR", R"({"factor": 0.5, "total_iters": 4})"), 0.05, 5),
                  {0.025, 0.025, 0.025, 0.025, 0.05, 0.05});
}

TEST(LrScheduler, LinearLrDocstringExample) {
  // torch 1.13's docstring: start_factor 0.5, total_iters 4, lr 0.05.
  expect_near_seq(run(spec("LinearLR", R"({"start_factor": 0.5, "total_iters": 4})"), 0.05, 5),
                  {0.025, 0.03125, 0.0375, 0.04375, 0.05, 0.05});
}

TEST(LrScheduler, CosineAnnealingFollowsTheClosedFormClosely) {
  const auto got = run(spec("CosineAnnealingLR", R"({"T_max": 10, "eta_min": 0.01})"), 0.1, 25);
  for (int t = 0; t <= 25; ++t) {
    const double closed = 0.01 + (0.1 - 0.01) * (1 + std::cos(M_PI * t / 10)) / 2;
    EXPECT_NEAR(got[t], closed, 1e-12) << "t=" << t;  // recursive form: equal up to rounding
  }
}

TEST(LrScheduler, WarmRestartsRestartAtT0) {
  const auto got = run(spec("CosineAnnealingWarmRestarts", R"({"T_0": 4})"), 0.2, 9);
  EXPECT_EQ(got[0], 0.2);
  EXPECT_EQ(got[4], 0.2);
  EXPECT_EQ(got[8], 0.2);
  EXPECT_NEAR(got[2], 0.1, 1e-15);
}

TEST(LrScheduler, OneCycleStartsAtMaxOverDivAndEndsAtMin) {
  auto s = LrScheduler::create(spec("OneCycleLR", R"({"max_lr": 1.0, "total_steps": 10, "cycle_momentum": false})"), 0.5);
  const auto got = run(*s, 9);
  EXPECT_NEAR(got[0], 1.0 / 25, 1e-15);       // the optimizer's lr is ignored
  EXPECT_NEAR(got[2], 1.0, 1e-15);            // peak at pct_start * total - 1 = 2
  EXPECT_NEAR(got[9], 1.0 / 25 / 1e4, 1e-15);  // min at total_steps - 1
  s->step();  // step total_steps is still allowed (torch checks step_num > total_steps)
  EXPECT_THROW(s->step(), ltrt::Error);
}

TEST(LrScheduler, SequentialLrSwitchesWithTheClosedForm) {
  // At the milestone the next scheduler restarts from base_lr (step(0), closed form).
  const auto got = run(spec("SequentialLR", R"({"schedulers": [{"type": "ConstantLR", "factor": 0.1, "total_iters": 2},
                                                               {"type": "ExponentialLR", "gamma": 0.9}],
                                               "milestones": [2]})"),
                       1.0, 4);
  expect_near_seq(got, {0.1, 0.1, 1.0, 0.9, 0.81});
}

TEST(LrScheduler, ReduceLrOnPlateauPatienceCooldownMinLr) {
  auto sp = spec("ReduceLROnPlateau", R"({"patience": 1, "cooldown": 1, "factor": 0.5, "min_lr": 0.03})");
  auto s = LrScheduler::create(sp, 0.1);
  EXPECT_TRUE(s->needs_metric());
  //                 best  bad   bad->reduce  cooldown  bad  bad->reduce(min_lr)  bad  bad->no change (at min)
  const std::vector<double> m = {1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0};
  expect_near_seq(run(*s, 8, m), {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.03, 0.03, 0.03});
  EXPECT_THROW(s->step(), ltrt::Error);  // the metric is required
}

TEST(LrScheduler, ReduceLrOnPlateauIgnoresReductionsBelowEps) {
  auto s = LrScheduler::create(spec("ReduceLROnPlateau", R"({"patience": 0, "factor": 0.5, "eps": 0.01})"), 0.05);
  // 0.05 -> 0.025 (cut 0.025) -> 0.0125 (cut 0.0125) -> 0.00625 would cut less than eps: kept.
  expect_near_seq(run(*s, 4, {1, 2, 2, 2}), {0.05, 0.05, 0.025, 0.0125, 0.0125});
}

TEST(LrScheduler, ReduceLrOnPlateauMaxMode) {
  auto s = LrScheduler::create(spec("ReduceLROnPlateau", R"({"mode": "max", "patience": 0, "threshold_mode": "abs",
                                                               "threshold": 0.1})"),
                               1.0);
  // 0.5 best; 0.55 not better by 0.1 -> reduce; 0.7 better; 0.75 not -> reduce.
  expect_near_seq(run(*s, 4, {0.5, 0.55, 0.7, 0.75}), {1.0, 1.0, 0.1, 0.1, 0.01});
}

// Every type: steps k times, saves state() as JSON text, loads it into a fresh
// scheduler and checks the continuation is bit-identical.
struct ResumeCase {
  const char* type;
  const char* args;
  std::vector<double> metrics;  // ReduceLROnPlateau
};

class Resume : public ::testing::TestWithParam<ResumeCase> {};

TEST_P(Resume, ContinuesBitIdentically) {
  const ResumeCase& c = GetParam();
  const auto sp = spec(c.type, c.args);
  const int steps = 30;
  std::vector<double> metrics = c.metrics;
  if (!metrics.empty())
    for (int t = 0; t < steps; ++t) metrics.push_back(1.0 / (1 + t % 7));
  auto step = [&](LrScheduler& s, int t) {
    if (metrics.empty()) s.step(); else s.step(metrics[t]);
  };
  for (int k : {0, 1, 5, 11, 20}) {
    auto a = LrScheduler::create(sp, 0.1);
    for (int t = 0; t < k; ++t) step(*a, t);
    const std::string text = ltrt::json::write(a->state());
    auto b = LrScheduler::create(sp, 0.1);
    b->load_state(ltrt::json::parse(text));  // strict JSON: no Infinity literals
    EXPECT_EQ(b->lr(), a->lr()) << "resumed at " << k;
    for (int t = k; t < steps; ++t) {
      step(*a, t);
      step(*b, t);
      ASSERT_EQ(a->lr(), b->lr()) << c.type << " resumed at " << k << ", step " << t;
    }
    EXPECT_EQ(ltrt::json::write(a->state()), ltrt::json::write(b->state()));
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllTypes, Resume,
    ::testing::Values(
        ResumeCase{"StepLR", R"({"step_size": 3})", {}},
        ResumeCase{"MultiStepLR", R"({"milestones": [4, 9, 9], "gamma": 0.5})", {}},
        ResumeCase{"ExponentialLR", R"({"gamma": 0.9})", {}},
        ResumeCase{"CosineAnnealingLR", R"({"T_max": 7, "eta_min": 0.001})", {}},
        ResumeCase{"LinearLR", R"({"start_factor": 0.2, "total_iters": 12})", {}},
        ResumeCase{"ConstantLR", R"({"factor": 0.5, "total_iters": 8})", {}},
        ResumeCase{"OneCycleLR", R"({"max_lr": 0.4, "total_steps": 30, "cycle_momentum": false, "three_phase": true})", {}},
        ResumeCase{"CosineAnnealingWarmRestarts", R"({"T_0": 3, "T_mult": 2})", {}},
        ResumeCase{"SequentialLR", R"({"schedulers": [{"type": "LinearLR", "total_iters": 6},
                                                      {"type": "OneCycleLR", "max_lr": 0.3, "total_steps": 30,
                                                       "cycle_momentum": false},
                                                      {"type": "CosineAnnealingWarmRestarts", "T_0": 4}],
                                       "milestones": [6, 14]})", {}},
        ResumeCase{"ReduceLROnPlateau", R"({"patience": 2, "cooldown": 1, "factor": 0.5})", {1.0}}),
    [](const auto& info) { return std::string(info.param.type); });

TEST(LrScheduler, LoadStateChecksTheType) {
  auto a = LrScheduler::create(spec("StepLR", R"({"step_size": 3})"), 0.1);
  auto b = LrScheduler::create(spec("ExponentialLR", R"({"gamma": 0.9})"), 0.1);
  EXPECT_THROW(b->load_state(a->state()), ltrt::Error);
  Value partial = a->state();
  partial.members.erase(partial.members.begin() + 1);  // drop "lr"
  EXPECT_THROW(a->load_state(partial), ltrt::Error);
}

TEST(LrScheduler, PlateauStateKeepsInfiniteBestAsString) {
  auto s = LrScheduler::create(spec("ReduceLROnPlateau", "{}"), 0.1);
  const Value st = s->state();
  ASSERT_NE(st.find("best"), nullptr);
  EXPECT_EQ(st.find("best")->str, "inf");
}

TEST(LrScheduler, OneCycleCyclesTheMomentumAgainstTheLr) {
  // Adam's beta1 from max_momentum at the start to base_momentum at the peak of the lr and back.
  auto s = LrScheduler::create(spec("OneCycleLR", R"({"max_lr": 1.0, "total_steps": 10, "pct_start": 0.5,
                                                       "anneal_strategy": "linear"})"),
                               0.1, ltrt::OptimizerMomentum{true, 0.9});
  ASSERT_TRUE(s->momentum().has_value());
  EXPECT_DOUBLE_EQ(*s->momentum(), 0.95);
  for (int i = 0; i < 4; ++i) s->step();
  EXPECT_DOUBLE_EQ(s->lr(), 1.0);  // the peak: the first phase ends at step 0.5 * 10 - 1 = 4
  EXPECT_DOUBLE_EQ(*s->momentum(), 0.85);
  for (int i = 0; i < 5; ++i) s->step();
  EXPECT_DOUBLE_EQ(*s->momentum(), 0.95);  // the last step (9): back at max_momentum
  auto off = LrScheduler::create(spec("OneCycleLR", R"({"max_lr": 1.0, "total_steps": 11, "cycle_momentum": false})"),
                                 0.1, ltrt::OptimizerMomentum{true, 0.9});
  EXPECT_FALSE(off->momentum().has_value());
}

TEST(LrScheduler, GroupSpecsTakeTheirEntryOfListArguments) {
  const SchedulerSpec seq = spec("SequentialLR", R"({"schedulers": [{"type": "LinearLR"},
      {"type": "OneCycleLR", "max_lr": [0.1, 0.3], "total_steps": 10, "base_momentum": [0.8, 0.7]}],
      "milestones": [3]})");
  const SchedulerSpec second = ltrt::group_scheduler_spec(seq, 1, 2);
  const Value& one_cycle = second.args.find("schedulers")->items.at(1);
  EXPECT_EQ(one_cycle.find("max_lr")->num, 0.3);
  EXPECT_EQ(one_cycle.find("base_momentum")->num, 0.7);
  EXPECT_EQ(one_cycle.find("type")->str, "OneCycleLR");
  EXPECT_NE(ltrt_test::error_of([&] { ltrt::group_scheduler_spec(seq, 0, 3); })
                .find("SequentialLR schedulers[1]: OneCycleLR: expected 3 values for max_lr"),
            std::string::npos);
  // Without cycle_momentum, torch never reads the momentum lists.
  const SchedulerSpec off = spec("OneCycleLR", R"({"max_lr": 0.1, "total_steps": 10, "cycle_momentum": false,
                                                   "base_momentum": [0.8, 0.7, 0.6]})");
  EXPECT_NO_THROW(LrScheduler::create(ltrt::group_scheduler_spec(off, 0, 2), 0.1));
  const SchedulerSpec plateau = spec("ReduceLROnPlateau", R"({"min_lr": [0.01, 0.02]})");
  EXPECT_EQ(ltrt::group_scheduler_spec(plateau, 1, 2).args.find("min_lr")->num, 0.02);
}

TEST(LrScheduler, StepsFromTheLrTheOptimizerHasNow) {
  // torch's recursive forms and ReduceLROnPlateau build on group["lr"], which a hook may have set.
  auto s = LrScheduler::create(spec("ExponentialLR", R"({"gamma": 0.5})"), 0.1);
  s->take_lr(1.0);
  s->step();
  EXPECT_DOUBLE_EQ(s->lr(), 0.5);
  auto p = LrScheduler::create(spec("ReduceLROnPlateau", R"({"patience": 5})"), 0.1);
  p->take_lr(1.0);
  p->step(0.3);
  EXPECT_DOUBLE_EQ(p->lr(), 1.0);
}

TEST(LrScheduler, ArgumentErrorsNameTheArgument) {
  EXPECT_NE(error_of(spec("NoSuchLR", "{}")).find("unknown lr scheduler 'NoSuchLR'"), std::string::npos);
  EXPECT_NE(error_of(spec("StepLR", "{}")).find("'step_size' is required"), std::string::npos);
  EXPECT_NE(error_of(spec("StepLR", R"({"step_size": 2.5})")).find("'step_size' must be an integer"), std::string::npos);
  EXPECT_NE(error_of(spec("StepLR", R"({"step_size": 2, "gama": 0.1})")).find("unknown argument 'gama'"),
            std::string::npos);
  EXPECT_NE(error_of(spec("LinearLR", R"({"start_factor": 0})")).find("'start_factor'"), std::string::npos);
  EXPECT_NE(error_of(spec("ConstantLR", R"({"factor": 1.5})")).find("'factor'"), std::string::npos);
  // cycle_momentum (torch's default) on an SGD without momentum: torch would switch a buffer on.
  EXPECT_NE(error_of(spec("OneCycleLR", R"({"max_lr": 0.1, "total_steps": 10})")).find("'cycle_momentum'"),
            std::string::npos);
  EXPECT_NE(error_of(spec("OneCycleLR", R"({"max_lr": 0.1, "cycle_momentum": false})")).find("total_steps"),
            std::string::npos);
  EXPECT_NE(error_of(spec("OneCycleLR", R"({"max_lr": 0.1, "total_steps": 10, "pct_start": 0.1,
                                            "cycle_momentum": false})"))
                .find("zero steps"),
            std::string::npos);
  EXPECT_NE(error_of(spec("CosineAnnealingWarmRestarts", R"({"T_0": 0})")).find("'T_0'"), std::string::npos);
  EXPECT_NE(error_of(spec("PolynomialLR", R"({"power": -1.0})")).find("'power'"), std::string::npos);
  EXPECT_NE(error_of(spec("PolynomialLR", R"({"total_iters": 0})")).find("'total_iters'"), std::string::npos);
  EXPECT_NE(error_of(spec("SequentialLR", R"({"schedulers": [{"type": "ConstantLR"}, {"type": "ExponentialLR",
                                              "gamma": 0.9}], "milestones": [0]})"))
                .find("must be positive"),
            std::string::npos);
  EXPECT_NE(error_of(spec("ReduceLROnPlateau", R"({"mode": "maximum"})")).find("'mode' must be one of"),
            std::string::npos);
  EXPECT_NE(error_of(spec("ReduceLROnPlateau", R"({"factor": 1.0})")).find("'factor'"), std::string::npos);
  EXPECT_NE(error_of(spec("SequentialLR", R"({"schedulers": [{"type": "StepLR", "step_size": 2}], "milestones": [3]})"))
                .find("'milestones'"),
            std::string::npos);
  EXPECT_NE(error_of(spec("SequentialLR", R"({"schedulers": [{"type": "ReduceLROnPlateau"}], "milestones": []})"))
                .find("schedulers[0]"),
            std::string::npos);
  EXPECT_NE(error_of(spec("SequentialLR", R"({"schedulers": [{"type": "StepLR"}], "milestones": []})"))
                .find("SequentialLR schedulers[0]: StepLR: argument 'step_size' is required"),
            std::string::npos);
}

TEST(LrScheduler, MetricOnlyForReduceLrOnPlateau) {
  auto s = LrScheduler::create(spec("StepLR", R"({"step_size": 2})"), 0.1);
  EXPECT_FALSE(s->needs_metric());
  EXPECT_THROW(s->step(0.5), ltrt::Error);
}

TEST(LrScheduler, ArgumentTableListsEveryTypeWithTorchDefaults) {
  const auto& table = ltrt::scheduler_arguments();
  ASSERT_EQ(table.size(), 15u);
  for (const auto& [type, args] : table) {
    // Fill the required arguments with plausible values; every type must build.
    Value a = Value::make_object();
    for (const auto& arg : args) {
      if (!arg.required) continue;
      if (arg.name == "milestones") {
        Value m = Value::make_array();
        if (type == "SequentialLR") m.push(Value::make_integer(3)); else m.push(Value::make_integer(2));
        a.set(arg.name, m);
      } else if (arg.name == "schedulers") {
        a.set(arg.name, ltrt::json::parse(R"([{"type": "ConstantLR"}, {"type": "ExponentialLR", "gamma": 0.9}])"));
      } else if (arg.name == "lr_lambda") {
        a.set(arg.name, Value::make_string("lambda epoch: 0.9 ** epoch"));
      } else if (arg.name == "gamma" || arg.name == "max_lr") {
        a.set(arg.name, Value::make_number(0.5));
      } else {
        a.set(arg.name, Value::make_integer(5));
      }
    }
    if (type == "OneCycleLR") {
      a.set("total_steps", Value::make_integer(20));
      a.set("cycle_momentum", Value::make_bool(false));
    }
    if (type == "CyclicLR") a.set("cycle_momentum", Value::make_bool(false));
    EXPECT_NO_THROW(LrScheduler::create(SchedulerSpec{type, a}, 0.1)) << type;
    auto s = LrScheduler::create(SchedulerSpec{type, a}, 0.1);
    EXPECT_STREQ(s->type(), type.c_str());
  }
  // A few of torch's defaults.
  auto find = [&](const std::string& type, const std::string& name) -> const ltrt::SchedulerArgument* {
    for (const auto& [t, args] : table)
      if (t == type)
        for (const auto& arg : args)
          if (arg.name == name) return &arg;
    return nullptr;
  };
  ASSERT_NE(find("LinearLR", "start_factor"), nullptr);
  EXPECT_EQ(find("LinearLR", "start_factor")->default_value.num, 1.0 / 3);
  EXPECT_EQ(find("ReduceLROnPlateau", "patience")->default_value.integer, 10);
  EXPECT_TRUE(find("StepLR", "step_size")->required);
  EXPECT_FALSE(find("OneCycleLR", "total_steps")->required);
  EXPECT_TRUE(find("OneCycleLR", "total_steps")->default_value.is_null());
}

}  // namespace
