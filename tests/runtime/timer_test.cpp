// Timer: durations as Lightning parses them, stopping by step / epoch, state and resume
// (lightning/pytorch/callbacks/timer.py), with a hand-driven clock.
#include "test_util.hpp"
#include "ltrt/timer.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "ltrt/config_reader.hpp"
#include "ltrt/error.hpp"
#include "ltrt/json.hpp"

namespace {

using ltrt::CallbackContext;
using ltrt::Timer;

using ltrt_test::error_of;

double duration(const std::string& json) { return *ltrt::read_duration(ltrt::json::parse(json), "x.duration"); }

TEST(Timer, Durations) {
  EXPECT_EQ(duration(R"("00:12:00:00")"), 43200.0);
  EXPECT_EQ(duration(R"(" 1:00:00:30 ")"), 86430.0);
  EXPECT_EQ(duration(R"({"days": 1, "hours": 2})"), 93600.0);
  EXPECT_EQ(duration(R"({"weeks": 1, "minutes": 1.5})"), 604890.0);
  EXPECT_FALSE(ltrt::read_duration(ltrt::json::parse("null"), "x").has_value());
  EXPECT_EQ(error_of([] { duration(R"("12:00:00")"); }),
            "x.duration: `Timer(duration='12:00:00')` is not a valid duration. Expected a string in the format "
            "DD:HH:MM:SS.");
  EXPECT_EQ(error_of([] { duration(R"({"hour": 1})"); }), "x.duration.hour: unknown key 'hour'; did you mean 'hours'?");
  EXPECT_EQ(ltrt::timedelta_str(65), "0:01:05");
  EXPECT_EQ(ltrt::timedelta_str(86400 + 7200), "1 day, 2:00:00");
  EXPECT_EQ(ltrt::timedelta_str(3 * 86400), "3 days, 0:00:00");
}

struct Harness {
  bool should_stop = false;
  std::vector<std::string> infos;
  CallbackContext ctx;
  Harness() {
    ctx.should_stop = &should_stop;
    ctx.info = [this](const std::string& m) { infos.push_back(m); };
  }
};

TEST(Timer, StopsOnTheStepThatReachesTheDuration) {
  Timer::Options o;
  o.duration = 10;
  Timer t(o);
  Harness h;
  h.ctx.elapsed_seconds = 100;  // the clock does not start at 0
  t.on_fit_start(h.ctx);
  t.on_train_start(h.ctx);
  for (double now : {103.0, 106.0, 109.9}) {
    h.ctx.elapsed_seconds = now;
    t.on_train_batch_end(h.ctx);
    EXPECT_FALSE(h.should_stop) << now;
  }
  h.ctx.elapsed_seconds = 110.0;  // time_elapsed() >= duration
  t.on_train_batch_end(h.ctx);
  EXPECT_TRUE(h.should_stop);
  ASSERT_EQ(h.infos.size(), 1u);
  EXPECT_EQ(h.infos[0], "Time limit reached. Elapsed time is 0:00:10. Signaling Trainer to stop.");
  EXPECT_EQ(*t.time_remaining(110.0), 0.0);
}

TEST(Timer, EpochIntervalChecksOnlyAtEpochEnd) {
  Timer::Options o;
  o.duration = 5;
  o.interval = "epoch";
  o.verbose = false;
  Timer t(o);
  Harness h;
  t.on_train_start(h.ctx);
  h.ctx.elapsed_seconds = 7;
  t.on_train_batch_end(h.ctx);
  EXPECT_FALSE(h.should_stop);
  t.on_train_epoch_end(h.ctx);
  EXPECT_TRUE(h.should_stop);
  EXPECT_TRUE(h.infos.empty());
}

TEST(Timer, NoDurationNeverStops) {
  Timer t(Timer::Options{});
  Harness h;
  t.on_fit_start(h.ctx);
  t.on_train_start(h.ctx);
  h.ctx.elapsed_seconds = 1e9;
  t.on_train_batch_end(h.ctx);
  t.on_train_epoch_end(h.ctx);
  EXPECT_FALSE(h.should_stop);
}

TEST(Timer, StateCarriesTrainingTimeIntoTheResumedFit) {
  Timer::Options o;
  o.duration = 100;
  Timer a(o);
  Harness h;
  a.on_train_start(h.ctx);
  h.ctx.elapsed_seconds = 2;
  a.on_validation_start(h.ctx);
  h.ctx.elapsed_seconds = 3.5;
  a.on_validation_end(h.ctx);
  h.ctx.elapsed_seconds = 60;
  a.on_train_epoch_end(h.ctx);
  EXPECT_EQ(a.state_key(), "Timer");
  const std::string s = ltrt::json::write(a.state());
  EXPECT_EQ(s, R"({"time_elapsed":{"train":60.0,"sanity_check":0,"validate":1.5,"test":0,"predict":0}})");

  Timer b(o);
  b.load_state(ltrt::json::parse(s));
  Harness h2;  // a new process: its clock starts anywhere
  h2.ctx.elapsed_seconds = 1000;
  b.on_fit_start(h2.ctx);
  EXPECT_FALSE(h2.should_stop);
  b.on_train_start(h2.ctx);
  h2.ctx.elapsed_seconds = 1039;
  b.on_train_batch_end(h2.ctx);
  EXPECT_FALSE(h2.should_stop);
  h2.ctx.elapsed_seconds = 1040;
  b.on_train_batch_end(h2.ctx);
  EXPECT_TRUE(h2.should_stop);

  // A depleted timer stops at on_fit_start, before any step.
  Timer c(o);
  c.load_state(ltrt::json::parse(R"({"time_elapsed":{"train":150.0}})"));
  Harness h3;
  c.on_fit_start(h3.ctx);
  EXPECT_TRUE(h3.should_stop);
}

TEST(Timer, ReadsInitArgs) {
  const auto v = ltrt::json::parse(R"({"duration": "00:00:01:00", "interval": "epoch", "verbose": false})");
  ltrt::ConfigObject a(v, "trainer.callbacks[0].init_args");
  auto t = Timer::read(a);
  EXPECT_EQ(*t->options().duration, 60.0);
  EXPECT_EQ(t->options().interval, "epoch");
  const auto bad = ltrt::json::parse(R"({"interval": "batch"})");
  ltrt::ConfigObject b(bad, "trainer.callbacks[0].init_args");
  EXPECT_EQ(error_of([&] { Timer::read(b); }),
            "trainer.callbacks[0].init_args.interval: 'batch' is not one of 'step', 'epoch'");
}

}  // namespace
