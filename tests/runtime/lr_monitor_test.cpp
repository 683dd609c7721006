// LearningRateMonitor: when it logs and under which names (lightning/pytorch/callbacks/lr_monitor.py).
#include "test_util.hpp"
#include "ltrt/lr_monitor.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ltrt/config_reader.hpp"
#include "ltrt/error.hpp"
#include "ltrt/json.hpp"

namespace {

using ltrt::CallbackContext;
using ltrt::LearningRateMonitor;
using Log = std::vector<std::pair<std::string, double>>;

using ltrt_test::error_of;

struct Harness {
  std::map<std::string, double> metrics;
  bool should_stop = false;
  Log log;
  std::vector<std::int64_t> log_steps;  // batches_that_stepped of each logged entry
  CallbackContext ctx;
  Harness(const std::string& optimizer, bool scheduler, const std::string& interval = "epoch") {
    ctx.callback_metrics = &metrics;
    ctx.should_stop = &should_stop;
    ctx.log = &log;
    ctx.optimizer_name = optimizer;
    ctx.param_groups = {{nullptr, 0.1, 0.0, 0, 10}};  // one group, as a spec without param_groups
    ctx.lrs = {0.1};
    ctx.momentums = {0.0};
    ctx.has_scheduler = scheduler;
    ctx.scheduler_interval = interval;
    ctx.log_every_n_steps = 2;
  }
  // An epoch of n batches: epoch start, then batch start per batch (the step count advances after each).
  void epoch(LearningRateMonitor& m, int n) {
    std::size_t before = log.size();
    m.on_train_epoch_start(ctx);
    for (std::size_t i = before; i < log.size(); ++i) log_steps.push_back(ctx.batches_that_stepped);
    for (int b = 0; b < n; ++b) {
      before = log.size();
      m.on_train_batch_start(ctx);
      for (std::size_t i = before; i < log.size(); ++i) log_steps.push_back(ctx.batches_that_stepped);
      ++ctx.batches_that_stepped;
      ++ctx.global_step;
      for (double& lr : ctx.lrs) lr *= 0.5;  // a step-wise change, to tell the logged values apart
    }
  }
};

LearningRateMonitor monitor(const std::string& interval, bool momentum = false, bool wd = false) {
  LearningRateMonitor::Options o;
  o.logging_interval = interval;
  o.log_momentum = momentum;
  o.log_weight_decay = wd;
  return LearningRateMonitor(o);
}

TEST(LearningRateMonitor, NoSchedulerDefaultLogsAtEpochStartAndEveryNSteps) {
  auto m = monitor("");
  Harness h("Adam", false);
  m.on_train_start(h.ctx);
  h.epoch(m, 4);
  // epoch start (step 0), then batch starts where (batches_that_stepped + 1) % 2 == 0: 1 and 3
  EXPECT_EQ(h.log, (Log{{"lr-Adam", 0.1}, {"lr-Adam", 0.05}, {"lr-Adam", 0.0125}}));
  EXPECT_EQ(h.log_steps, (std::vector<std::int64_t>{0, 1, 3}));
  EXPECT_EQ(m.lrs().at("lr-Adam").size(), 3u);
  EXPECT_EQ(h.metrics.at("lr-Adam"), static_cast<double>(0.0125f));  // torch.tensor(value): float32
}

TEST(LearningRateMonitor, EpochSchedulerLogsOnlyAtEpochStart) {
  auto m = monitor("");
  Harness h("SGD", true, "epoch");
  m.on_train_start(h.ctx);
  h.epoch(m, 4);
  h.epoch(m, 4);
  EXPECT_EQ(h.log, (Log{{"lr-SGD", 0.1}, {"lr-SGD", 0.1 / 16}}));
  EXPECT_EQ(h.log_steps, (std::vector<std::int64_t>{0, 4}));
}

TEST(LearningRateMonitor, StepSchedulerLogsOnlyOnLoggingSteps) {
  auto m = monitor("");
  Harness h("AdamW", true, "step");
  m.on_train_start(h.ctx);
  h.epoch(m, 4);
  EXPECT_EQ(h.log_steps, (std::vector<std::int64_t>{1, 3}));
  EXPECT_EQ(h.log[0].first, "lr-AdamW");
}

TEST(LearningRateMonitor, LoggingIntervalOverridesTheScheduler) {
  {
    auto m = monitor("step");  // interval "any" at batch start, nothing at epoch start
    Harness h("SGD", true, "epoch");
    m.on_train_start(h.ctx);
    h.epoch(m, 4);
    EXPECT_EQ(h.log_steps, (std::vector<std::int64_t>{1, 3}));
  }
  {
    auto m = monitor("epoch");
    Harness h("SGD", true, "step");
    m.on_train_start(h.ctx);
    h.epoch(m, 4);
    EXPECT_EQ(h.log_steps, (std::vector<std::int64_t>{0}));
  }
  {  // should_stop makes every batch start a logging one
    auto m = monitor("step");
    Harness h("SGD", false);
    h.should_stop = true;
    m.on_train_start(h.ctx);
    h.epoch(m, 3);
    EXPECT_EQ(h.log_steps, (std::vector<std::int64_t>{0, 1, 2}));
  }
  {  // log_every_n_steps = 0: never from the batch hook
    auto m = monitor("step");
    Harness h("SGD", false);
    h.ctx.log_every_n_steps = 0;
    m.on_train_start(h.ctx);
    h.epoch(m, 3);
    EXPECT_TRUE(h.log.empty());
  }
}

TEST(LearningRateMonitor, MomentumAndWeightDecayNames) {
  auto m = monitor("epoch", true, true);
  Harness h("Adam", false);
  h.ctx.momentums = {0.9};  // betas[0]
  h.ctx.param_groups = {{nullptr, 0.1, 0.01, 0, 10}};
  m.on_train_start(h.ctx);
  m.on_train_epoch_start(h.ctx);
  EXPECT_EQ(h.log, (Log{{"lr-Adam", 0.1}, {"lr-Adam-momentum", 0.9}, {"lr-Adam-weight_decay", 0.01}}));
  EXPECT_EQ(h.metrics.count("lr-Adam-momentum"), 1u);
}

TEST(LearningRateMonitor, ParameterGroupsGetSuffixes) {
  // _add_suffix: several groups "/<name>" or "/pg<i>"; one group "/<name>" only when it has one.
  auto m = monitor("epoch", false, true);
  Harness h("AdamW", false);
  h.ctx.param_groups = {{nullptr, 0.1, 0.1, 0, 10}, {"no_decay", 0.1, 0.0, 10, 4}, {nullptr, 0.1, 0.5, 14, 2}};
  h.ctx.lrs = {0.1, 0.1, 0.1};
  h.ctx.momentums = {0.0, 0.0, 0.0};
  m.on_train_start(h.ctx);
  m.on_train_epoch_start(h.ctx);
  EXPECT_EQ(h.log, (Log{{"lr-AdamW/pg1", 0.1},
                        {"lr-AdamW/pg1-weight_decay", 0.1},
                        {"lr-AdamW/no_decay", 0.1},
                        {"lr-AdamW/no_decay-weight_decay", 0.0},
                        {"lr-AdamW/pg3", 0.1},
                        {"lr-AdamW/pg3-weight_decay", 0.5}}));
  EXPECT_EQ(m.lrs().count("lr-AdamW/no_decay"), 1u);

  auto one = monitor("epoch");
  Harness named("SGD", false);
  named.ctx.param_groups = {{"all", 0.1, 0.0, 0, 10}};
  one.on_train_start(named.ctx);
  one.on_train_epoch_start(named.ctx);
  EXPECT_EQ(named.log, (Log{{"lr-SGD/all", 0.1}}));
}

TEST(LearningRateMonitor, SchedulerNameReplacesTheOptimizersKey) {
  auto m = monitor("", true);
  Harness h("AdamW", true, "step");
  h.ctx.scheduler_name = "cosine";
  h.ctx.param_groups = {{"no_decay", 0.1, 0.0, 0, 10}, {nullptr, 0.3, 0.1, 10, 4}};
  h.ctx.lrs = {0.1, 0.3};  // each group's lr now (a group of its own lr)
  h.ctx.momentums = {0.9, 0.85};
  m.on_train_start(h.ctx);
  m.on_train_epoch_start(h.ctx);  // the scheduler steps per step: nothing at epoch start
  EXPECT_TRUE(h.log.empty());
  m.on_train_batch_start(h.ctx);
  ++h.ctx.batches_that_stepped;
  m.on_train_batch_start(h.ctx);  // (1 + 1) % log_every_n_steps == 0
  EXPECT_EQ(h.log, (Log{{"cosine/no_decay", 0.1},
                        {"cosine/no_decay-momentum", 0.9},
                        {"cosine/pg2", 0.3},
                        {"cosine/pg2-momentum", 0.85}}));
}

TEST(LearningRateMonitor, RefusesGroupsOfOneName) {
  // _duplicate_param_group_names: an unnamed group's name is "pg<i>".
  auto m = monitor("");
  Harness h("Adam", false);
  h.ctx.param_groups = {{"pg2", 0.1, 0.0, 0, 10}, {nullptr, 0.1, 0.1, 10, 4}};
  h.ctx.lrs = {0.1, 0.1};
  h.ctx.momentums = {0.0, 0.0};
  EXPECT_EQ(error_of([&] { m.on_train_start(h.ctx); }),
            "A single `Optimizer` cannot have multiple parameter groups with identical `name` values. lr-Adam has "
            "duplicated parameter group names {'pg2'}");
}

TEST(LearningRateMonitor, NeedsALoggerAndAValidInterval) {
  auto m = monitor("");
  Harness h("SGD", false);
  h.ctx.has_logger = false;
  EXPECT_EQ(error_of([&] { m.on_train_start(h.ctx); }),
            "Cannot use `LearningRateMonitor` callback with `Trainer` that has no logger.");
  EXPECT_EQ(error_of([] { monitor("batch"); }), "logging_interval should be `step` or `epoch` or `None`.");
  const auto v = ltrt::json::parse(R"({"logging_interval": "steps"})");
  ltrt::ConfigObject a(v, "trainer.callbacks[0].init_args");
  EXPECT_EQ(error_of([&] { LearningRateMonitor::read(a); }),
            "trainer.callbacks[0].init_args.logging_interval: 'steps' is not one of 'step', 'epoch'; did you mean "
            "'step'?");
  EXPECT_EQ(m.state_key(), "LearningRateMonitor");
  EXPECT_TRUE(m.state().members.empty());  // no state_dict: nothing stored in checkpoints
}

}  // namespace
