// lightning.pytorch.callbacks.Timer (Lightning 2.x timer.py): tracks the time
// spent in training and validation and stops fit when the duration is reached.
// Times come from CallbackContext::elapsed_seconds (the trainer's monotonic
// clock), Lightning's time.monotonic().
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "ltrt/callbacks.hpp"

namespace ltrt {

class ConfigObject;

// A duration as Lightning's Timer / Trainer(max_time=...) takes it, in seconds:
// "DD:HH:MM:SS" (re.fullmatch(r"(\d+):(\d\d):(\d\d):(\d\d)", s.strip())), or an
// object of datetime.timedelta's keyword arguments (weeks, days, hours,
// minutes, seconds, milliseconds, microseconds), or null (no limit). Throws
// ConfigError at `path`.
std::optional<double> read_duration(const json::Value& v, const std::string& path);

class Timer : public Callback {
 public:
  struct Options {
    std::optional<double> duration;  // seconds; none: never stops
    std::string interval = "step";   // "step" | "epoch"
    bool verbose = true;             // "Time limit reached. ..." to CallbackContext::info
  };
  explicit Timer(Options options);  // throws ltrt::Error for a bad interval
  static std::unique_ptr<Timer> read(ConfigObject& init_args);

  const char* class_name() const override { return "Timer"; }
  // {"time_elapsed": {"train": s, "sanity_check": s, "validate": s, "test": s, "predict": s}}, as of the
  // last hook's clock.
  json::Value state() const override;
  // Only time_elapsed.train is used (it becomes the training offset), as in Lightning.
  void load_state(const json::Value& state) override;

  void on_fit_start(const CallbackContext& ctx) override;
  void on_train_start(const CallbackContext& ctx) override;
  void on_train_end(const CallbackContext& ctx) override;
  void on_validation_start(const CallbackContext& ctx) override;
  void on_validation_end(const CallbackContext& ctx) override;
  void on_train_batch_end(const CallbackContext& ctx) override;
  void on_train_epoch_end(const CallbackContext& ctx) override;

  const Options& options() const { return o_; }
  // time_elapsed("train") / ("validate") at clock time `now`; time_remaining("train").
  double time_elapsed_train(double now) const;
  double time_elapsed_validate(double now) const;
  std::optional<double> time_remaining(double now) const;

 private:
  void check_time_remaining(const CallbackContext& ctx);

  Options o_;
  std::optional<double> train_start_, train_end_, val_start_, val_end_;
  double offset_ = 0;
  double now_ = 0;  // the clock at the last hook (for state())
};

// "0:01:05" / "1 day, 2:00:00": str(timedelta(seconds=int(s))), for the time-limit message.
std::string timedelta_str(long long seconds);

}  // namespace ltrt
