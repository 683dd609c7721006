// EarlyStopping: hand-computed sequences against Lightning 2.x's rules
// (lightning/pytorch/callbacks/early_stopping.py), reasons as Lightning words them.
#include "test_util.hpp"
#include "ltrt/early_stopping.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "ltrt/config_reader.hpp"
#include "ltrt/error.hpp"
#include "ltrt/json.hpp"

namespace {

using ltrt::CallbackContext;
using ltrt::EarlyStopping;

struct Harness {
  std::map<std::string, double> metrics;
  bool should_stop = false;
  std::vector<std::string> infos, warnings;
  CallbackContext ctx;
  Harness() {
    ctx.callback_metrics = &metrics;
    ctx.should_stop = &should_stop;
    ctx.info = [this](const std::string& m) { infos.push_back(m); };
    ctx.warn = [this](const std::string& m) { warnings.push_back(m); };
  }
  // One epoch whose validation logged `value` for `name`: on_validation_end, then on_train_epoch_end.
  void epoch(EarlyStopping& es, const std::string& name, double value) {
    metrics[name] = value;
    es.on_validation_end(ctx);
    es.on_train_epoch_end(ctx);
    ++ctx.current_epoch;
  }
};

EarlyStopping::Options opts(const std::string& monitor) {
  EarlyStopping::Options o;
  o.monitor = monitor;
  return o;
}

using ltrt_test::error_of;

TEST(EarlyStopping, Patience2StopsAfterFourthValidation) {
  auto o = opts("val_loss");
  o.patience = 2;
  EarlyStopping es(o);
  Harness h;
  es.setup(h.ctx);
  const double losses[] = {1.0, 0.9, 0.95, 0.96};
  for (int i = 0; i < 3; ++i) {
    h.epoch(es, "val_loss", losses[i]);
    EXPECT_FALSE(h.should_stop) << "after validation " << i + 1;
  }
  EXPECT_EQ(es.wait_count(), 1);
  EXPECT_EQ(es.best_score(), static_cast<double>(0.9f));
  h.epoch(es, "val_loss", losses[3]);
  EXPECT_TRUE(h.should_stop);
  EXPECT_EQ(es.wait_count(), 2);
  EXPECT_EQ(es.stopped_epoch(), 3);
  EXPECT_EQ(es.last_reason(),
            "Monitored metric val_loss did not improve in the last 2 records. Best score: 0.900. Signaling Trainer to "
            "stop.");
  EXPECT_TRUE(h.infos.empty());  // verbose=False
}

TEST(EarlyStopping, ReasonsOfImprovementAsLightningWordsThem) {
  auto o = opts("val_loss");
  o.verbose = true;
  EarlyStopping es(o);
  Harness h;
  es.setup(h.ctx);
  h.epoch(es, "val_loss", 1.0);
  h.epoch(es, "val_loss", 0.9);
  ASSERT_EQ(h.infos.size(), 2u);
  EXPECT_EQ(h.infos[0], "Metric val_loss improved. New best score: 1.000");
  // abs(best - current) in float32: 1.0f - 0.9f = 0.100000024
  EXPECT_EQ(h.infos[1], "Metric val_loss improved by 0.100 >= min_delta = 0.0. New best score: 0.900");
}

TEST(EarlyStopping, MinDeltaSignFollowsMode) {
  {  // min: an improvement must be a drop of more than min_delta
    auto o = opts("val_loss");
    o.min_delta = 0.1;
    EarlyStopping es(o);
    EXPECT_DOUBLE_EQ(es.min_delta(), -0.1);
    Harness h;
    es.setup(h.ctx);
    h.epoch(es, "val_loss", 1.0);
    h.epoch(es, "val_loss", 0.95);  // 0.95 + 0.1 < 1.0 is false
    EXPECT_EQ(es.wait_count(), 1);
    h.epoch(es, "val_loss", 0.85);  // 0.95 < 1.0
    EXPECT_EQ(es.wait_count(), 0);
    EXPECT_EQ(es.best_score(), static_cast<double>(0.85f));
  }
  {  // max: a rise of more than min_delta
    auto o = opts("val_acc");
    o.mode = "max";
    o.min_delta = 0.05;
    EarlyStopping es(o);
    EXPECT_DOUBLE_EQ(es.min_delta(), 0.05);
    EXPECT_EQ(es.best_score(), -std::numeric_limits<double>::infinity());
    Harness h;
    es.setup(h.ctx);
    h.epoch(es, "val_acc", 0.5);
    h.epoch(es, "val_acc", 0.54);
    EXPECT_EQ(es.wait_count(), 1);
    h.epoch(es, "val_acc", 0.56);
    EXPECT_EQ(es.wait_count(), 0);
  }
}

TEST(EarlyStopping, StoppingAndDivergenceThresholds) {
  {
    auto o = opts("val_acc");
    o.mode = "max";
    o.stopping_threshold = 0.95;
    EarlyStopping es(o);
    Harness h;
    es.setup(h.ctx);
    h.epoch(es, "val_acc", 0.5);
    EXPECT_FALSE(h.should_stop);
    h.epoch(es, "val_acc", 0.96);
    EXPECT_TRUE(h.should_stop);
    // f"{current}" of a float32 tensor: repr(current.item())
    EXPECT_EQ(es.last_reason(),
              "Stopping threshold reached: val_acc = 0.9599999785423279 > 0.95. Signaling Trainer to stop.");
  }
  {
    auto o = opts("val_loss");
    o.divergence_threshold = 3.0;
    EarlyStopping es(o);
    Harness h;
    es.setup(h.ctx);
    h.epoch(es, "val_loss", 2.0);
    EXPECT_FALSE(h.should_stop);
    h.epoch(es, "val_loss", 5.0);
    EXPECT_TRUE(h.should_stop);
    EXPECT_EQ(es.last_reason(), "Divergence threshold reached: val_loss = 5.0 < 3.0. Signaling Trainer to stop.");
  }
}

TEST(EarlyStopping, CheckFinite) {
  EarlyStopping es(opts("val_loss"));
  Harness h;
  es.setup(h.ctx);
  h.epoch(es, "val_loss", std::nan(""));
  EXPECT_TRUE(h.should_stop);
  EXPECT_EQ(es.last_reason(),
            "Monitored metric val_loss = nan is not finite. Previous best value was inf. Signaling Trainer to stop.");

  auto o = opts("val_loss");
  o.check_finite = false;
  EarlyStopping lenient(o);
  Harness h2;
  lenient.setup(h2.ctx);
  h2.epoch(lenient, "val_loss", std::nan(""));  // nan < inf is false: no improvement
  EXPECT_FALSE(h2.should_stop);
  EXPECT_EQ(lenient.wait_count(), 1);
}

TEST(EarlyStopping, StrictMissingMetricNamesTheAvailableOnes) {
  EarlyStopping es(opts("val_loss"));
  Harness h;
  es.setup(h.ctx);
  h.metrics["train_loss"] = 0.5;
  h.metrics["epoch"] = 0;
  EXPECT_EQ(error_of([&] { es.on_train_epoch_end(h.ctx); }),
            "Early stopping conditioned on metric `val_loss` which is not available. Pass in or modify your "
            "`EarlyStopping` callback to use any of the following: `epoch`, `train_loss`");

  auto o = opts("val_loss");
  o.strict = false;
  o.verbose = true;
  EarlyStopping lenient(o);
  lenient.setup(h.ctx);
  lenient.on_train_epoch_end(h.ctx);
  EXPECT_FALSE(h.should_stop);
  ASSERT_EQ(h.warnings.size(), 1u);
}

TEST(EarlyStopping, WhereTheCheckRuns) {
  // Default (None): val_check_interval == 1.0 and check_val_every_n_epoch == 1 -> train epoch end.
  {
    EarlyStopping es(opts("val_loss"));
    Harness h;
    es.setup(h.ctx);
    EXPECT_TRUE(es.check_on_train_epoch_end());
    h.metrics["val_loss"] = 1.0;
    es.on_validation_end(h.ctx);
    EXPECT_EQ(es.best_score(), std::numeric_limits<double>::infinity());
    es.on_train_epoch_end(h.ctx);
    EXPECT_EQ(es.best_score(), 1.0);
  }
  // check_val_every_n_epoch = 2 (or val_check_interval != 1.0) -> validation end.
  for (int variant = 0; variant < 2; ++variant) {
    EarlyStopping es(opts("val_loss"));
    Harness h;
    if (variant == 0) h.ctx.check_val_every_n_epoch = 2;
    else h.ctx.val_check_interval = 0.5;
    es.setup(h.ctx);
    EXPECT_FALSE(es.check_on_train_epoch_end());
    h.metrics["val_loss"] = 1.0;
    es.on_train_epoch_end(h.ctx);
    EXPECT_EQ(es.best_score(), std::numeric_limits<double>::infinity());
    es.on_validation_end(h.ctx);
    EXPECT_EQ(es.best_score(), 1.0);
  }
  // Given explicitly: kept.
  {
    auto o = opts("val_loss");
    o.check_on_train_epoch_end = false;
    EarlyStopping es(o);
    Harness h;
    es.setup(h.ctx);
    EXPECT_FALSE(es.check_on_train_epoch_end());
  }
}

TEST(EarlyStopping, SkipsDuringSanityCheck) {
  auto o = opts("val_loss");
  o.check_on_train_epoch_end = false;
  EarlyStopping es(o);
  Harness h;
  es.setup(h.ctx);
  h.ctx.sanity_checking = true;
  h.metrics["val_loss"] = std::nan("");
  es.on_validation_end(h.ctx);
  EXPECT_FALSE(h.should_stop);
  EXPECT_EQ(es.wait_count(), 0);
}

TEST(EarlyStopping, StateRoundTripContinuesTheCount) {
  auto o = opts("val_loss");
  o.patience = 2;
  EarlyStopping a(o);
  Harness h;
  a.setup(h.ctx);
  h.epoch(a, "val_loss", 1.0);
  h.epoch(a, "val_loss", 1.1);
  const ltrt::json::Value s = a.state();
  EXPECT_EQ(ltrt::json::write(s), R"({"wait_count":1,"stopped_epoch":0,"best_score":1.0,"patience":2})");
  EXPECT_EQ(a.state_key(), "EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}");

  EarlyStopping b(opts("val_loss"));  // patience 3, restored to 2 from the state
  Harness h2;
  h2.ctx.current_epoch = 2;
  b.setup(h2.ctx);
  b.load_state(ltrt::json::parse(ltrt::json::write(s)));
  EXPECT_EQ(b.options().patience, 2);
  h2.epoch(b, "val_loss", 1.2);
  EXPECT_TRUE(h2.should_stop);
  EXPECT_EQ(b.stopped_epoch(), 2);

  // inf survives strict JSON
  EarlyStopping fresh(opts("val_loss"));
  EXPECT_EQ(ltrt::json::write(fresh.state()), R"({"wait_count":0,"stopped_epoch":0,"best_score":"inf","patience":3})");
  fresh.load_state(fresh.state());
  EXPECT_EQ(fresh.best_score(), std::numeric_limits<double>::infinity());
}

TEST(EarlyStopping, ReadsInitArgs) {
  const auto v = ltrt::json::parse(
      R"({"monitor": "val_acc", "mode": "max", "patience": 5, "min_delta": 0.01, "stopping_threshold": 0.99,
          "check_on_train_epoch_end": null, "verbose": true, "log_rank_zero_only": true})");
  ltrt::ConfigObject a(v, "trainer.callbacks[0].init_args");
  auto es = EarlyStopping::read(a);
  EXPECT_EQ(es->options().patience, 5);
  EXPECT_EQ(es->options().mode, "max");
  EXPECT_EQ(*es->options().stopping_threshold, 0.99);
  EXPECT_FALSE(es->options().check_on_train_epoch_end.has_value());

  const auto bad = ltrt::json::parse(R"({"monitor": "val_loss", "mode": "minimum"})");
  ltrt::ConfigObject b(bad, "trainer.callbacks[0].init_args");
  EXPECT_EQ(error_of([&] { EarlyStopping::read(b); }),
            "trainer.callbacks[0].init_args.mode: 'minimum' is not one of 'min', 'max'");
  const auto none = ltrt::json::parse(R"({"patience": 2})");
  ltrt::ConfigObject c(none, "trainer.callbacks[0].init_args");
  EXPECT_EQ(error_of([&] { EarlyStopping::read(c); }), "trainer.callbacks[0].init_args: missing required key 'monitor'");
  EXPECT_EQ(error_of([] { EarlyStopping::Options o; o.monitor = "x"; o.mode = "avg"; EarlyStopping es(o); }),
            "`mode` can be min, max, got avg");
}

}  // namespace
