// lightning.pytorch.callbacks.EarlyStopping (Lightning 2.x early_stopping.py).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ltrt/callbacks.hpp"

namespace ltrt {

class ConfigObject;

class EarlyStopping : public Callback {
 public:
  struct Options {
    std::string monitor;                   // required
    double min_delta = 0.0;
    std::int64_t patience = 3;
    bool verbose = false;                  // the reasons go to CallbackContext::info
    std::string mode = "min";              // "min" | "max"
    bool strict = true;
    bool check_finite = true;
    std::optional<double> stopping_threshold;
    std::optional<double> divergence_threshold;
    std::optional<bool> check_on_train_epoch_end;  // None: decided in setup()
    bool log_rank_zero_only = false;       // DDP: only rank 0 says why it stops (else every rank, "[rank: R] ...")
  };

  // Throws ltrt::Error with Lightning's message for a bad mode.
  explicit EarlyStopping(Options options);
  // init_args of the spec (trainer.callbacks[i].init_args).
  static std::unique_ptr<EarlyStopping> read(ConfigObject& init_args);

  const char* class_name() const override { return "EarlyStopping"; }
  std::string state_key() const override;  // "EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}"
  // {"wait_count", "stopped_epoch", "best_score", "patience"}
  json::Value state() const override;
  void load_state(const json::Value& state) override;

  void setup(const CallbackContext& ctx) override;
  void on_train_epoch_end(const CallbackContext& ctx) override;
  void on_validation_end(const CallbackContext& ctx) override;

  const Options& options() const { return o_; }
  // Lightning's attributes.
  std::int64_t wait_count() const { return wait_count_; }
  std::int64_t stopped_epoch() const { return stopped_epoch_; }
  double best_score() const { return best_score_; }
  double min_delta() const { return min_delta_; }  // signed: negative in "min" mode
  bool check_on_train_epoch_end() const { return check_on_train_epoch_end_.value_or(false); }
  // The reason of the last check, as Lightning words it ("" when none): "Monitored metric val_loss did not
  // improve in the last 2 records. Best score: 0.900. Signaling Trainer to stop."
  const std::string& last_reason() const { return last_reason_; }

 private:
  void run_check(const CallbackContext& ctx);
  bool evaluate(float current, std::string& reason);

  Options o_;
  double min_delta_ = 0;
  float best_score_ = 0;  // a float32 tensor in Lightning
  std::int64_t wait_count_ = 0;
  std::int64_t stopped_epoch_ = 0;
  std::optional<bool> check_on_train_epoch_end_;
  std::string last_reason_;
};

}  // namespace ltrt
