// The spec's callback list: class paths, init_args errors with did-you-mean and positions,
// Lightning's default ModelCheckpoint, ordering, duplicate state keys, max_time, and the
// checkpoint state of the whole list (lightning/pytorch/trainer/connectors/callback_connector.py).
#include "ltrt/callbacks.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "ltrt/config_reader.hpp"
#include "ltrt/device_stats_monitor.hpp"
#include "ltrt/early_stopping.hpp"
#include "ltrt/error.hpp"
#include "ltrt/gradient_accumulation_scheduler.hpp"
#include "ltrt/json.hpp"
#include "ltrt/lr_monitor.hpp"
#include "ltrt/model_checkpoint.hpp"
#include "ltrt/model_summary.hpp"
#include "ltrt/progress_bar.hpp"
#include "ltrt/timer.hpp"
#include "ltrt/weight_averaging.hpp"

namespace {

using ltrt::Callbacks;

Callbacks read(const std::string& spec, bool enable_checkpointing = true, bool enable_progress_bar = true) {
  return Callbacks::read(ltrt::json::parse(spec), enable_checkpointing, enable_progress_bar);
}

std::string names(const Callbacks& cbs) {
  std::string out;
  for (const auto& cb : cbs.list()) out += (out.empty() ? "" : ",") + std::string(cb->class_name());
  return out;
}

// "path:line:col: message" as ltgen reports it.
std::string error_of(const std::string& spec, bool enable_checkpointing = true, bool enable_progress_bar = true) {
  try {
    read(spec, enable_checkpointing, enable_progress_bar);
  } catch (const ltrt::ConfigError& e) {
    return e.path + ":" + std::to_string(e.pos.line) + ":" + std::to_string(e.pos.col) + ": " + e.message;
  }
  return "(no error)";
}

TEST(Callbacks, DefaultModelCheckpointUnlessDisabled) {
  EXPECT_EQ(names(read("{}")), "ModelCheckpoint");
  EXPECT_EQ(names(read(R"({"trainer": {"callbacks": []}})")), "ModelCheckpoint");
  EXPECT_EQ(names(read(R"({"trainer": {"callbacks": null}})", false)), "");
  auto cbs = read("{}");
  ASSERT_NE(cbs.checkpoint_callback(), nullptr);
  EXPECT_EQ(cbs.checkpoint_callback()->options().save_top_k, 1);
  EXPECT_EQ(cbs.early_stopping_callback(), nullptr);
}

TEST(Callbacks, ClassPathsAndLightningsOrder) {
  const auto cbs = read(R"({"trainer": {"callbacks": [
      {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"monitor": "val_loss"}},
      {"class_path": "EarlyStopping", "init_args": {"monitor": "val_loss", "patience": 3}},
      {"class_path": "pytorch_lightning.callbacks.LearningRateMonitor"},
      {"class_path": "lightning.pytorch.callbacks.timer.Timer", "init_args": {"duration": "00:01:00:00"}},
      {"class_path": "ModelCheckpoint", "init_args": {"save_last": true, "save_top_k": 0, "filename": "x"}}]}})");
  // ModelCheckpoints moved to the end, in spec order; no default added.
  EXPECT_EQ(names(cbs), "EarlyStopping,LearningRateMonitor,Timer,ModelCheckpoint,ModelCheckpoint");
  EXPECT_EQ(cbs.checkpoint_callback()->options().monitor, "val_loss");
  EXPECT_EQ(cbs.checkpoint_callbacks().size(), 2u);
  EXPECT_EQ(cbs.early_stopping_callback()->options().patience, 3);
  // A single object instead of a list, as Trainer(callbacks=cb) takes it.
  EXPECT_EQ(names(read(R"({"trainer": {"callbacks": {"class_path": "Timer"}}})")), "Timer,ModelCheckpoint");
}

TEST(Callbacks, OnExceptionCheckpointIsACheckpointCallback) {
  // Ordered with the ModelCheckpoints, in spec order; no default ModelCheckpoint beside it (Lightning's
  // checkpoint_callbacks are every Checkpoint); refused without checkpointing.
  const auto cbs = read(R"({"trainer": {"callbacks": [
      {"class_path": "lightning.pytorch.callbacks.OnExceptionCheckpoint", "init_args": {"dirpath": "crash"}},
      {"class_path": "EMAWeightAveraging", "init_args": {"decay": 0.9}}]}})");
  EXPECT_EQ(names(cbs), "EMAWeightAveraging,OnExceptionCheckpoint");
  EXPECT_EQ(cbs.checkpoint_callback(), nullptr);
  EXPECT_NE(cbs.weight_averaging(), nullptr);
  EXPECT_EQ(names(read(R"({"trainer": {"callbacks": [{"class_path": "OnExceptionCheckpoint",
      "init_args": {"dirpath": "a", "filename": "x"}}, {"class_path": "ModelCheckpoint"}, {"class_path": "Timer"}]}})")),
            "Timer,OnExceptionCheckpoint,ModelCheckpoint");
  EXPECT_NE(error_of(R"({"trainer": {"callbacks": [{"class_path": "OnExceptionCheckpoint", "init_args": {"dirpath": "a"}}]}})",
                     false).find("Trainer was configured with `enable_checkpointing=False`"), std::string::npos);
  EXPECT_NE(error_of(R"({"trainer": {"callbacks": [{"class_path": "OnExceptionCheckpoint"}]}})").find("dirpath"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"trainer": {"callbacks": [{"class_path": "OnExceptionCheckpoint",
      "init_args": {"dirpath": "a", "filename": ""}}]}})").find("The filename cannot be empty"), std::string::npos);
}

TEST(Callbacks, ErrorsNameThePathWithDidYouMean) {
  EXPECT_EQ(error_of(R"({"trainer": {"callbacks": [
  {"class_path": "Timer"},
  {"class_path": "EarlyStopping", "init_args": {"monitor": "val_loss", "patince": 3}}]}})"),
            "trainer.callbacks[1].init_args.patince:3:72: unknown key 'patince'; did you mean 'patience'?");
  EXPECT_EQ(error_of(R"({"trainer": {"callbacks": [{"class_path": "EarlyStoping"}]}})"),
            "trainer.callbacks[0].class_path:1:43: unknown callback class 'EarlyStoping'; did you mean "
            "'EarlyStopping'? (supported: EarlyStopping, ModelCheckpoint, LearningRateMonitor, Timer, "
            "GradientAccumulationScheduler, WeightAveraging, EMAWeightAveraging, StochasticWeightAveraging, "
            "OnExceptionCheckpoint, TQDMProgressBar, ModelSummary, LearningRateFinder, BackboneFinetuning, "
            "SpikeDetection, ThroughputMonitor, DeviceStatsMonitor)");
  EXPECT_EQ(error_of(R"({"trainer": {"callbacks": [{"class_path": "lightning.pytorch.callbacks.RichProgressBar"}]}})"),
            "trainer.callbacks[0].class_path:1:43: the callback RichProgressBar is not supported yet (see README, "
            "'Not supported yet')");
  EXPECT_EQ(error_of(R"({"trainer": {"callbacks": [{"class_path": "my.module.Callback"}]}})"),
            "trainer.callbacks[0].class_path:1:43: unknown callback class 'my.module.Callback' (supported: "
            "EarlyStopping, ModelCheckpoint, LearningRateMonitor, Timer, GradientAccumulationScheduler, "
            "WeightAveraging, EMAWeightAveraging, StochasticWeightAveraging, OnExceptionCheckpoint, TQDMProgressBar, "
            "ModelSummary, LearningRateFinder, BackboneFinetuning, SpikeDetection, ThroughputMonitor, "
            "DeviceStatsMonitor)");
  EXPECT_EQ(error_of(R"({"trainer": {"callbacks": [{"class_path": "Timer", "init_arg": {}}]}})"),
            "trainer.callbacks[0].init_arg:1:52: unknown key 'init_arg'; did you mean 'init_args'?");
  EXPECT_EQ(error_of(R"({"trainer": {"callbacks": [{"init_args": {}}]}})"),
            "trainer.callbacks[0]:1:28: missing required key 'class_path'");
  EXPECT_EQ(error_of(R"({"trainer": {"callbacks": [{"class_path": "EarlyStopping"}]}})"),
            "trainer.callbacks[0].init_args:1:28: missing required key 'monitor'");
  EXPECT_EQ(error_of(R"({"trainer": {"callbacks": "EarlyStopping"}})"),
            "trainer.callbacks:1:27: expected a list of {\"class_path\": ..., \"init_args\": {...}} objects, got the "
            "string \"EarlyStopping\"");
}

TEST(Callbacks, LightningsListWideChecks) {
  EXPECT_EQ(error_of(R"({"trainer": {"callbacks": [{"class_path": "Timer"}, {"class_path": "ModelCheckpoint"}]}})",
                     false),
            "trainer.callbacks[1]:1:53: Trainer was configured with `enable_checkpointing=False` but found "
            "`ModelCheckpoint` in callbacks list.");
  EXPECT_EQ(error_of(R"({"trainer": {"callbacks": [
    {"class_path": "EarlyStopping", "init_args": {"monitor": "val_loss", "patience": 1}},
    {"class_path": "EarlyStopping", "init_args": {"monitor": "val_loss", "patience": 5}}]}})"),
            "trainer.callbacks[1]:3:5: Found more than one stateful callback of type `EarlyStopping`. In the current "
            "configuration, this callback does not support being saved alongside other instances of the same type. "
            "Please consult the documentation of `EarlyStopping` regarding valid settings for the callback state to "
            "be checkpointable. HINT: The `callback.state_key` must be unique among all callbacks in the Trainer.");
  // Different monitors: different state keys, allowed.
  EXPECT_EQ(names(read(R"({"trainer": {"callbacks": [
    {"class_path": "EarlyStopping", "init_args": {"monitor": "val_loss"}},
    {"class_path": "EarlyStopping", "init_args": {"monitor": "val_acc", "mode": "max"}}]}})")),
            "EarlyStopping,EarlyStopping,ModelCheckpoint");
}

TEST(Callbacks, ProgressBarAndModelSummary) {
  // TQDMProgressBar's and ModelSummary's arguments and defaults, under their module paths too
  // (lightning.pytorch.callbacks.progress.tqdm_progress, ...callbacks.progress, ...model_summary).
  auto cbs = read(R"({"trainer": {"callbacks": [
      {"class_path": "lightning.pytorch.callbacks.progress.tqdm_progress.TQDMProgressBar",
       "init_args": {"refresh_rate": 20, "process_position": 1, "leave": true}},
      {"class_path": "lightning.pytorch.callbacks.model_summary.ModelSummary", "init_args": {"max_depth": -1}}]}})");
  EXPECT_EQ(names(cbs), "TQDMProgressBar,ModelSummary,ModelCheckpoint");
  ASSERT_NE(cbs.progress_bar(), nullptr);
  EXPECT_EQ(cbs.progress_bar()->options().refresh_rate, 20);
  EXPECT_EQ(cbs.progress_bar()->options().process_position, 1);
  EXPECT_TRUE(cbs.progress_bar()->options().leave);
  ASSERT_NE(cbs.model_summary(), nullptr);
  EXPECT_EQ(cbs.model_summary()->max_depth(), -1);
  cbs = read(R"({"trainer": {"callbacks": [{"class_path": "lightning.pytorch.callbacks.progress.TQDMProgressBar"},
                                           {"class_path": "ModelSummary"}]}})");
  EXPECT_EQ(cbs.progress_bar()->options().refresh_rate, 1);
  EXPECT_FALSE(cbs.progress_bar()->options().leave);
  EXPECT_EQ(cbs.model_summary()->max_depth(), 1);
  EXPECT_EQ(read("{}").progress_bar(), nullptr);
  EXPECT_EQ(read("{}").model_summary(), nullptr);
  // A ModelSummary in the list is kept with enable_model_summary false (Lightning runs it then too);
  // a progress bar is refused with enable_progress_bar false, or beside another, as Lightning does.
  EXPECT_EQ(error_of(R"({"trainer": {"callbacks": [{"class_path": "TQDMProgressBar"}]}})", true, false),
            "trainer.callbacks[0]:1:28: Trainer was configured with `enable_progress_bar=False` but found "
            "`TQDMProgressBar` in callbacks list.");
  EXPECT_EQ(error_of(R"({"trainer": {"callbacks": [{"class_path": "TQDMProgressBar"}, {"class_path": "TQDMProgressBar",
      "init_args": {"refresh_rate": 5}}]}})"),
            "trainer.callbacks[1]:1:63: You added multiple progress bar callbacks to the Trainer, but currently only "
            "one progress bar is supported.");
  EXPECT_EQ(error_of(R"({"trainer": {"callbacks": [{"class_path": "ModelSummary", "init_args": {"max_depth": -2}}]}})"),
            "trainer.callbacks[0].init_args.max_depth:1:86: `max_depth` can be -1, 0 or > 0, got -2.");
  EXPECT_NE(error_of(R"({"trainer": {"callbacks": [{"class_path": "TQDMProgressBar", "init_args": {"refresh_rate": -1}}]}})")
                .find("trainer.callbacks[0].init_args.refresh_rate"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"trainer": {"callbacks": [{"class_path": "ModelSummary", "init_args": {"max_depth": 1.5}}]}})")
                .find("trainer.callbacks[0].init_args.max_depth"),
            std::string::npos);
  // summarize_kwargs (ModelSummary's **kwargs) are not taken.
  EXPECT_NE(error_of(R"({"trainer": {"callbacks": [{"class_path": "ModelSummary", "init_args": {"foo": 1}}]}})")
                .find("unknown key 'foo'"),
            std::string::npos);
}

TEST(Callbacks, ExtremeDurationsAndFilenamesAreRefusedNotCrashes) {
  // Found by fuzzing a program's command line: these aborted (std::stod's out_of_range) or overflowed
  // the regex's stack. Python's timedelta raises OverflowError past 999999999 days.
  const std::string many(400, '1');
  EXPECT_NE(error_of(R"({"trainer": {"callbacks": [{"class_path": "ModelCheckpoint", "init_args": {"train_time_interval": ")" +
                     many + R"(:00:00"}}]}})")
                .find("trainer.callbacks[0].init_args.train_time_interval"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"trainer": {"callbacks": [{"class_path": "ModelCheckpoint", "init_args": {"train_time_interval": ")" +
                     std::string(30000, ' ') + R"("}}]}})")
                .find("expected a duration"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"trainer": {"callbacks": [{"class_path": "ModelCheckpoint", "init_args": {"train_time_interval": ")" +
                     std::string(12, '9') + R"( days, 1:00:00"}}]}})")
                .find("is past a timedelta's range (999999999 days)"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"trainer": {"max_time": ")" + std::string(310, '1') + R"(:00:00:00"}})").find("trainer.max_time"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"trainer": {"callbacks": [{"class_path": "Timer", "init_args": {"duration": {"days": 1e308}}}]}})")
                .find("is past a timedelta's range"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"trainer": {"callbacks": [{"class_path": "ModelCheckpoint", "init_args": {"filename": "{)" +
                     std::string(50000, 'a') + R"("}}]}})")
                .find("is longer than 4096 characters: no file name is that long"),
            std::string::npos);
}

TEST(Callbacks, MaxTimeAddsAStepTimerUnlessOneIsGiven) {
  const auto cbs = read(R"({"trainer": {"max_time": {"minutes": 5},
                                        "callbacks": [{"class_path": "ModelCheckpoint"}]}})");
  EXPECT_EQ(names(cbs), "Timer,ModelCheckpoint");
  const auto* t = dynamic_cast<const ltrt::Timer*>(&cbs[0]);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(*t->options().duration, 300.0);
  EXPECT_EQ(t->options().interval, "step");
  EXPECT_EQ(names(read(R"({"trainer": {"max_time": "00:00:05:00", "callbacks": [{"class_path": "Timer",
            "init_args": {"interval": "epoch"}}]}})")), "Timer,ModelCheckpoint");
  EXPECT_EQ(error_of(R"({"trainer": {"max_time": "5:00"}})"),
            "trainer.max_time:1:26: `Timer(duration='5:00')` is not a valid duration. Expected a string in the format "
            "DD:HH:MM:SS.");
}

TEST(Callbacks, StateByStateKeyRoundTrips) {
  const std::string spec = R"({"trainer": {"callbacks": [
      {"class_path": "EarlyStopping", "init_args": {"monitor": "val_loss"}},
      {"class_path": "LearningRateMonitor"},
      {"class_path": "Timer", "init_args": {"duration": "00:01:00:00"}}]}})";
  auto a = read(spec);
  std::map<std::string, double> metrics{{"val_loss", 0.5}};
  bool stop = false;
  ltrt::CallbackContext ctx;
  ctx.callback_metrics = &metrics;
  ctx.should_stop = &stop;
  ctx.log_dir = std::string(LTRT_TEST_TMP) + "/state_round_trip";
  a.setup(ctx);
  a.on_train_start(ctx);
  ctx.elapsed_seconds = 12;
  a.on_train_epoch_end(ctx);
  const ltrt::json::Value s = a.state();
  // The LR monitor has no state; the others under Lightning's state keys, in list order.
  ASSERT_EQ(s.members.size(), 3u);
  EXPECT_EQ(s.members[0].first, "EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}");
  EXPECT_EQ(s.members[1].first, "Timer");
  EXPECT_EQ(s.members[2].first,
            "ModelCheckpoint{'monitor': None, 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 1, "
            "'train_time_interval': None}");
  EXPECT_EQ(ltrt::json::write(*s.find("Timer")->find("time_elapsed")->find("train")), "12.0");

  auto b = read(spec);
  b.setup(ctx);
  b.load_state(ltrt::json::parse(ltrt::json::write(s)));
  EXPECT_EQ(b.early_stopping_callback()->best_score(), 0.5);
  EXPECT_EQ(ltrt::json::write(b.state().members[0].second), ltrt::json::write(s.members[0].second));
  EXPECT_EQ(b.unmatched_state_warning(s), "");

  auto c = read("{}");
  EXPECT_EQ(c.unmatched_state_warning(s),
            "Be aware that when using `ckpt_path`, callbacks used to create the checkpoint need to be provided during "
            "`Trainer` instantiation. Please add the following callbacks: [\"EarlyStopping{'monitor': 'val_loss', "
            "'mode': 'min'}\", 'Timer'].");
  auto bad = ltrt::json::parse(R"({"EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}": {"wait_count": "x"}})");
  try {
    b.load_state(bad);
    FAIL() << "no error";
  } catch (const ltrt::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "callback state EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}: EarlyStopping state: 'best_score' "
              "is missing");
  }
}

TEST(Callbacks, HooksRunInListOrderSoCheckpointsSeeThisHooksState) {
  // EarlyStopping runs before ModelCheckpoint in on_train_epoch_end: the checkpoint saved there holds the
  // early-stopping state of the same epoch.
  auto cbs = read(R"({"trainer": {"callbacks": [
      {"class_path": "ModelCheckpoint", "init_args": {"dirpath": ")" + std::string(LTRT_TEST_TMP) +
                  R"(/order", "monitor": "val_loss"}},
      {"class_path": "EarlyStopping", "init_args": {"monitor": "val_loss"}}]}})");
  std::map<std::string, double> metrics{{"val_loss", 0.75}};
  bool stop = false;
  std::string saved_state;
  ltrt::CallbackContext ctx;
  ctx.callback_metrics = &metrics;
  ctx.should_stop = &stop;
  ctx.save_checkpoint = [&](const std::string&, bool) { saved_state = ltrt::json::write(cbs.state()); };
  ctx.warn = [](const std::string&) {};
  cbs.setup(ctx);
  ctx.global_step = 3;
  cbs.on_validation_end(ctx);
  cbs.on_train_epoch_end(ctx);
  EXPECT_NE(saved_state.find("\"best_score\":0.75"), std::string::npos) << saved_state;
  EXPECT_NE(saved_state.find("\"best_model_score\":0.75"), std::string::npos) << saved_state;
}

TEST(Callbacks, RangesSplitTheListAtTheModelCheckpoints) {
  // A program's user hooks run between the two ranges (ltrt/hooks.hpp): EarlyStopping before them,
  // ModelCheckpoint after them, so a checkpoint saved at a hook point sees what the hook did there.
  auto cbs = read(R"({"trainer": {"callbacks": [
      {"class_path": "ModelCheckpoint", "init_args": {"dirpath": ")" + std::string(LTRT_TEST_TMP) +
                  R"(/ranges", "monitor": "val_loss"}},
      {"class_path": "EarlyStopping", "init_args": {"monitor": "val_loss"}}]}})");
  std::map<std::string, double> metrics{{"val_loss", 0.5}};
  bool stop = false;
  int saves = 0;
  ltrt::CallbackContext ctx;
  ctx.callback_metrics = &metrics;
  ctx.should_stop = &stop;
  ctx.save_checkpoint = [&](const std::string&, bool) { ++saves; };
  ctx.warn = [](const std::string&) {};
  cbs.setup(ctx);
  ctx.global_step = 3;
  ctx.val_loop_has_run = true;
  cbs.on_validation_end(ctx);
  cbs.on_train_epoch_end(ctx, ltrt::CallbackRange::before_checkpoints);
  EXPECT_EQ(saves, 0) << "ModelCheckpoint is not in the first range";
  EXPECT_NE(ltrt::json::write(cbs.state()).find("\"best_score\":0.5"), std::string::npos) << "EarlyStopping is";
  metrics["val_loss"] = 0.25;  // what a user hook may write between the ranges
  cbs.on_train_epoch_end(ctx, ltrt::CallbackRange::checkpoints);
  EXPECT_EQ(saves, 1);
  EXPECT_NE(ltrt::json::write(cbs.state()).find("\"best_model_score\":0.25"), std::string::npos)
      << ltrt::json::write(cbs.state());
  EXPECT_NE(ltrt::json::write(cbs.state()).find("\"best_score\":0.5"), std::string::npos)
      << "EarlyStopping ran once, in the first range";
}

// GradientAccumulationScheduler: Lightning's schedule lookup (epoch 0 gets 1 unless given), its
// checks, and its refusal of a Trainer that accumulates by itself.
TEST(GradientAccumulationScheduler, FactorPerEpoch) {
  auto cbs = read(R"({"trainer": {"callbacks": [{"class_path": "GradientAccumulationScheduler",
      "init_args": {"scheduling": {"1": 3, "4": 2}}}]}})");
  ASSERT_EQ(names(cbs), "GradientAccumulationScheduler,ModelCheckpoint");
  const auto& g = dynamic_cast<const ltrt::GradientAccumulationScheduler&>(cbs[0]);
  const std::int64_t want[] = {1, 3, 3, 3, 2, 2, 2};
  for (std::int64_t epoch = 0; epoch < 7; ++epoch) EXPECT_EQ(g.factor(epoch), want[epoch]) << epoch;

  std::int64_t accumulate = 1;
  ltrt::CallbackContext ctx;
  ctx.accumulate_grad_batches = &accumulate;
  ctx.current_epoch = 4;
  cbs[0].on_train_start(ctx);
  cbs[0].on_train_epoch_start(ctx);
  EXPECT_EQ(accumulate, 2);
  try {
    cbs[0].on_train_start(ctx);  // the trainer's own accumulate_grad_batches is no longer 1
    ADD_FAILURE() << "expected an error";
  } catch (const ltrt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("You have set `accumulate_grad_batches`"), std::string::npos) << e.what();
  }
}

TEST(GradientAccumulationScheduler, BadSchedules) {
  const std::string head = R"({"trainer": {"callbacks": [{"class_path": "GradientAccumulationScheduler", "init_args": )";
  EXPECT_NE(error_of(head + R"({"scheduling": {}}}]}})").find("Empty dict cannot be interpreted correct"),
            std::string::npos);
  EXPECT_NE(error_of(head + R"({"scheduling": {"-1": 2}}}]}})").find("Epoch should be an int greater than or equal to 0"),
            std::string::npos);
  EXPECT_NE(error_of(head + R"({"scheduling": {"0": 0}}}]}})").find("Accumulation factor should be an int greater than 0"),
            std::string::npos);
  EXPECT_NE(error_of(head + R"({"scheduling": {"0": 1.5}}}]}})").find("Accumulation factor should be an int greater than 0"),
            std::string::npos);
  EXPECT_NE(error_of(head + R"({}}]}})").find("missing required key 'scheduling'"), std::string::npos);
  EXPECT_NE(error_of(head + R"({"scheduling": {"1": 2, "01": 3}}}]}})").find("epoch 1 is given twice"),
            std::string::npos);
  EXPECT_NE(error_of(head + R"({"scheduling": {"+1": 2}}}]}})").find("Epoch should be an int"), std::string::npos);
  const std::string both = R"({"trainer": {"accumulate_grad_batches": 2, "callbacks": [{"class_path":
      "GradientAccumulationScheduler", "init_args": {"scheduling": {"0": 2}}}]}})";
  EXPECT_NE(error_of(both).find("trainer.callbacks[0]:1:"), std::string::npos) << error_of(both);
  EXPECT_NE(error_of(both).find("Either remove `accumulate_grad_batches` from the Trainer"), std::string::npos);
}

}  // namespace

TEST(DeviceStatsMonitor, RoundsAsPythonAndReadsTheMachinesPercentages) {
  // Python's round(x, 1): the exact binary value to the nearest tenth, ties to even.
  EXPECT_EQ(ltrt::python_round_1(0.25), 0.2);
  EXPECT_EQ(ltrt::python_round_1(0.35), 0.3);  // 0.34999999999999997779...
  EXPECT_EQ(ltrt::python_round_1(2.675), 2.7);
  EXPECT_EQ(ltrt::python_round_1(99.96), 100.0);
  for (double p : {ltrt::memory_percent(), ltrt::swap_percent()}) {
    EXPECT_GE(p, 0.0);
    EXPECT_LE(p, 100.0);
    EXPECT_EQ(ltrt::python_round_1(p), p);
  }
  ltrt::CpuTimes last = ltrt::read_cpu_times();
  const double busy = ltrt::cpu_percent(last);
  EXPECT_GE(busy, 0.0);
  EXPECT_LE(busy, 100.0);
}
