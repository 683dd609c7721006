// lightning.pytorch.callbacks.GradientAccumulationScheduler (Lightning 2.x
// gradient_accumulation_scheduler.py): changes trainer.accumulate_grad_batches
// at the start of each training epoch, from a {first epoch: factor} schedule.
#pragma once

#include <cstdint>
#include <map>
#include <memory>

#include "ltrt/callbacks.hpp"

namespace ltrt {

class ConfigObject;

class GradientAccumulationScheduler : public Callback {
 public:
  // `scheduling`: epoch -> accumulation factor; epoch 0 gets 1 when it has none, as in Lightning.
  // Throws ltrt::Error with Lightning's messages for an empty schedule, negative epochs or factors < 1.
  explicit GradientAccumulationScheduler(std::map<std::int64_t, std::int64_t> scheduling);
  // init_args {"scheduling": {"0": 4, "2": 1}}: JSON's keys are strings, read as ints as LightningCLI does.
  static std::unique_ptr<GradientAccumulationScheduler> read(ConfigObject& init_args);

  const char* class_name() const override { return "GradientAccumulationScheduler"; }
  // Lightning refuses a Trainer whose own accumulate_grad_batches is not 1.
  void on_train_start(const CallbackContext& ctx) override;
  void on_train_epoch_start(const CallbackContext& ctx) override;

  // The factor of `epoch`: the schedule's entry at the last epoch <= it.
  std::int64_t factor(std::int64_t epoch) const;
  const std::map<std::int64_t, std::int64_t>& scheduling() const { return scheduling_; }

 private:
  std::map<std::int64_t, std::int64_t> scheduling_;
};

}  // namespace ltrt
