// Lightning's StochasticWeightAveraging callback (lightning/pytorch/callbacks/stochastic_weight_avg.py,
// 2.6) over the backend's averaged copy of the model (ltrt/averaged_model.hpp):
//
//   {"class_path": "StochasticWeightAveraging",
//    "init_args": {"swa_lrs": 0.01, "swa_epoch_start": 0.8, "annealing_epochs": 10,
//                  "annealing_strategy": "cos", "device": "cpu"}}
//
// Its hooks, as Lightning 2.6 has them (epochs counted from 0; swa_start = swa_epoch_start - 1, or
// int(max_epochs * swa_epoch_start) - 1 for a fraction, at least 0; swa_end = max_epochs - 1):
//   setup                 the copy made (AveragedModel-like deepcopy of the model as it is then)
//   on_fit_start          swa_epoch_start resolved; resumed with SWA's scheduler state, the spec's
//                         scheduler is dropped (SWA's SWALR takes its place when SWA starts again)
//   on_train_epoch_start  the first time epoch is in [swa_start, swa_end]: SWALR (per group) in
//                         place of the spec's scheduler (interval "epoch", frequency 1); then, once
//                         per epoch in that range, the running mean avg + (model - avg) / (n + 1) of
//                         the parameters as the epoch starts (the first update copies them)
//   on_train_end          after the epoch swa_end (or always when max_epochs is -1), the mean's
//                         parameters written over the model's
// Only parameters are averaged and written back: buffers stay the model's. A model with BatchNorm
// (and a max_epochs) trains one more epoch: at its start the mean is written over the model, the
// running statistics start again (momentum=None: a cumulative average over the epoch's batches),
// and the batches run forward alone, with one optimizer step at the last on the gradients the
// last backward left (none when a validation has released them since, as torch's are None then).
// Checkpoints hold the mean as average_model_state.* and the callback's state (n_averaged,
// latest_update_epoch, scheduler_state) under its state_key, as Lightning's state_dict has them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ltrt/averaged_model.hpp"
#include "ltrt/callbacks.hpp"

namespace ltrt {

class ConfigObject;
class LrScheduler;

class StochasticWeightAveraging : public Callback {
 public:
  struct Options {
    std::vector<double> swa_lrs;  // one for every parameter group, or one per group (lrs_per_group)
    bool lrs_per_group = false;
    std::optional<std::int64_t> start_epoch;  // swa_epoch_start as an integer (>= 1)
    std::optional<double> start_fraction;     // ... or as a fraction of max_epochs, in [0, 1]
    std::int64_t annealing_epochs = 10;
    bool cosine = true;  // annealing_strategy "cos"; false: "linear"
  };
  // The running mean of the parameters alone (update_parameters zips parameters()).
  static constexpr AveragingRule kRule{false, 0.0, false, true};

  explicit StochasticWeightAveraging(Options o);
  // init_args, with Lightning's (and SWALR's) checks; ConfigError with the key's path.
  static std::unique_ptr<StochasticWeightAveraging> read(ConfigObject& init_args);

  const char* class_name() const override { return "StochasticWeightAveraging"; }
  json::Value state() const override;  // {"n_averaged", "latest_update_epoch", "scheduler_state"}
  void load_state(const json::Value& state) override;

  void setup(const CallbackContext& ctx) override;
  void on_fit_start(const CallbackContext& ctx) override;
  void on_train_epoch_start(const CallbackContext& ctx) override;
  void on_train_epoch_end(const CallbackContext& ctx) override;
  void on_train_end(const CallbackContext& ctx) override;

  const Options& options() const { return o_; }
  // Whether fit made the copy (setup ran): checkpoints then hold it.
  bool active() const { return active_; }

 private:
  std::int64_t swa_start() const { return std::max<std::int64_t>(start_ - 1, 0); }
  std::int64_t swa_end() const { return max_epochs_ == -1 ? std::numeric_limits<std::int64_t>::max() : max_epochs_ - 1; }
  bool in_range(std::int64_t epoch) const { return swa_start() <= epoch && epoch <= swa_end(); }

  Options o_;
  bool active_ = false;
  std::int64_t max_epochs_ = -1;  // trainer.max_epochs at on_fit_start (-1: no limit)
  bool batch_norm_ = false;       // the model has BatchNorm: one more epoch recomputes its statistics
  std::int64_t start_ = 1;        // swa_epoch_start resolved to an epoch number (from 1)
  bool initialized_ = false;
  std::optional<std::int64_t> n_averaged_;  // None until SWA starts
  std::int64_t init_n_averaged_ = 0;        // from a checkpoint
  std::int64_t latest_update_epoch_ = -1;
  json::Value scheduler_state_;             // from a checkpoint (null: none)
  std::vector<const LrScheduler*> swalr_;   // the SWALRs once swapped in (the trainer owns them)
};

}  // namespace ltrt
