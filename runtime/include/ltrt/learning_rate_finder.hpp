// Lightning 2.x's LearningRateFinder callback (lightning/pytorch/callbacks/lr_finder.py and
// tuner/lr_finder.py): at on_fit_start, a learning-rate range test. The trainer (Fit::find_lr) saves
// the state, runs up to num_training_steps training steps with every parameter group's lr set by
// Lightning's _ExponentialLR (or _LinearLR) from min_lr towards max_lr, one step at a time, records
// each step's lr and smoothed loss here (Lightning's _LRCallback), stops early when the loss
// diverges, restores the state, and with update_attr sets every group's lr to suggestion().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ltrt/callbacks.hpp"

namespace ltrt {

class ConfigObject;

class LearningRateFinder : public Callback {
 public:
  struct Options {
    double min_lr = 1e-8;
    double max_lr = 1;
    std::int64_t num_training_steps = 100;
    bool exponential = true;                     // mode "exponential"; false: "linear"
    std::optional<double> early_stop_threshold = 4.0;  // none: no early stop
    bool update_attr = true;
  };
  explicit LearningRateFinder(Options options) : o_(options) {}
  // init_args: min_lr, max_lr, num_training_steps, mode, early_stop_threshold (a number or null),
  // update_attr, attr_name ("", "lr" or "learning_rate": the LightningModule's attribute the script
  // sets; the program has none). Throws ConfigError as Lightning's constructor raises.
  static std::unique_ptr<LearningRateFinder> read(ConfigObject& init_args);

  const char* class_name() const override { return "LearningRateFinder"; }
  const Options& options() const { return o_; }

  // The range test's record: start() before the first step; lr_before_step(steps) the lr the next
  // step uses (_ExponentialLR's or _LinearLR's after `steps` scheduler steps); note_lr(lr) before a
  // recorded step, record(loss, global_step) after it with its loss and trainer.global_step then,
  // which returns whether the loss diverged (the search stops after this step).
  void start();
  double lr_before_step(std::int64_t steps) const;
  void note_lr(double lr) { lrs_.push_back(lr); }  // on_train_batch_start's record
  bool record(double loss, std::int64_t global_step);
  const std::vector<double>& lrs() const { return lrs_; }
  // _LRFinder.suggestion(skip_begin=10, skip_end=1): the lr at the steepest descent of the smoothed
  // loss (torch.gradient in float32 against the lrs, then argmin), nullopt with fewer than two
  // finite losses to compare.
  std::optional<double> suggestion() const;

 private:
  Options o_;
  std::vector<double> lrs_, losses_;
  double avg_loss_ = 0, best_loss_ = 0;
};

}  // namespace ltrt
