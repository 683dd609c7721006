// lightning.pytorch.callbacks.LearningRateMonitor (Lightning 2.x lr_monitor.py)
// for one optimizer and at most one LR scheduler: names "lr-<Optimizer>" ("lr-Adam",
// "lr-SGD", "lr-AdamW"), with "/<group name>" or "/pg<i>" per parameter group when there
// are several (or the one has a name), plus "<name>-momentum" (SGD's momentum, Adam's
// betas[0]) and "<name>-weight_decay" when asked.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ltrt/callbacks.hpp"

namespace ltrt {

class ConfigObject;

class LearningRateMonitor : public Callback {
 public:
  struct Options {
    std::string logging_interval;  // "step", "epoch", or "" (None: each scheduler's own interval)
    bool log_momentum = false;
    bool log_weight_decay = false;
  };
  explicit LearningRateMonitor(Options options);  // throws ltrt::Error for a bad logging_interval
  static std::unique_ptr<LearningRateMonitor> read(ConfigObject& init_args);

  const char* class_name() const override { return "LearningRateMonitor"; }

  // Checks for a logger (MisconfigurationException otherwise) and for parameter groups of one
  // name, and names the optimizer's groups.
  void on_train_start(const CallbackContext& ctx) override;
  // Logs when logging_interval != "step": the scheduler's lr if its interval is "epoch" (or
  // logging_interval == "epoch"), and the lr of an optimizer without a scheduler.
  void on_train_epoch_start(const CallbackContext& ctx) override;
  // Logs when the logger connector's should_update_logs holds and logging_interval != "epoch": the
  // scheduler's lr if its interval is "step" (or logging_interval == "step"), and the lr of an
  // optimizer without a scheduler.
  void on_train_batch_start(const CallbackContext& ctx) override;

  const Options& options() const { return o_; }
  // Lightning's self.lrs: every lr logged, by name.
  const std::map<std::string, std::vector<double>>& lrs() const { return lrs_; }

 private:
  void extract_and_log(const CallbackContext& ctx, const std::string& interval);
  // The key of each parameter group's lr: "lr-AdamW", or with a suffix per group ("lr-AdamW/pg1").
  static std::vector<std::string> group_keys(const CallbackContext& ctx);
  static std::string base_key(const CallbackContext& ctx);

  Options o_;
  std::map<std::string, std::vector<double>> lrs_;
};

// What Lightning's monitor fails on with this torch.optim class (its name): log_weight_decay with
// an optimizer whose groups have no weight_decay (Rprop, LBFGS). "" when nothing.
std::string weight_decay_refusal(const LearningRateMonitor::Options& options, const std::string& optimizer);

}  // namespace ltrt
