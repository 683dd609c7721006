// Lightning's WeightAveraging and EMAWeightAveraging callbacks (lightning.pytorch.callbacks.
// weight_averaging, 2.6): an averaged copy of the model (torch.optim.swa_utils.AveragedModel)
// updated after optimizer steps, swapped in for each validation, written over the model when
// training ends and saved as the checkpoint's state_dict.
//
//   {"class_path": "EMAWeightAveraging", "init_args": {"decay": 0.999, "update_every_n_steps": 1,
//                                                       "update_starting_at_step": null,
//                                                       "update_starting_at_epoch": null,
//                                                       "use_buffers": true}}
//   {"class_path": "WeightAveraging", "init_args": {"use_buffers": true}}  (the running mean, SWA)
//
// The copy lives where the steps run (Backend::average_*). The hooks, as Lightning 2.6 has them:
//   setup                      the copy made (AveragedModel(pl_module)), n_averaged = 0
//   on_train_batch_end         update when global_step moved past the last update's and
//                              should_update(step_idx = global_step - 1)
//   on_train_epoch_end         update when should_update(epoch_idx = current_epoch)
//   on_validation_epoch_start  model and copy swapped (the sanity check's too) ...
//   on_validation_epoch_end    ... and swapped back
//   on_train_end               the copy written over the model
// Checkpoints (on_save_checkpoint): state_dict holds the copy, current_model_state the model's own
// values and averaging_state n_averaged; weights-only checkpoints hold the model's own values only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ltrt/averaged_model.hpp"
#include "ltrt/callbacks.hpp"

namespace ltrt {

class ConfigObject;

class WeightAveraging : public Callback {
 public:
  struct Options {
    bool ema = false;  // EMAWeightAveraging
    AveragingRule rule;
    std::int64_t update_every_n_steps = 1;                 // EMA
    std::optional<std::int64_t> update_starting_at_step;   // EMA
    std::optional<std::int64_t> update_starting_at_epoch;  // EMA
    std::string device;  // AveragedModel's device: "" (None: the model's), or one that must be the model's
  };
  explicit WeightAveraging(Options o);
  // The init_args of either class (ema: EMAWeightAveraging's); ConfigError with the key's path.
  static std::unique_ptr<WeightAveraging> read(ConfigObject& init_args, bool ema);

  const char* class_name() const override { return o_.ema ? "EMAWeightAveraging" : "WeightAveraging"; }
  json::Value state() const override;  // {"latest_update_step": N}
  void load_state(const json::Value& state) override;

  void setup(const CallbackContext& ctx) override;
  void on_train_batch_end(const CallbackContext& ctx) override;
  void on_train_epoch_end(const CallbackContext& ctx) override;
  void on_validation_epoch_start(const CallbackContext& ctx) override;
  void on_validation_epoch_end(const CallbackContext& ctx) override;
  void on_train_end(const CallbackContext& ctx) override;

  const Options& options() const { return o_; }
  // Whether fit made the copy (setup ran), and AveragedModel.n_averaged.
  bool active() const { return active_; }
  std::int64_t n_averaged() const { return n_averaged_; }
  // on_load_checkpoint, with the checkpoint's state_dict already in the model (the backend's): with
  // `n_averaged` (the checkpoint had current_model_state and averaging_state) the copy takes the
  // state_dict and the caller then puts current_model_state into the model; without, both stay
  // the state_dict, with Lightning's warning.
  void on_load_checkpoint(const CallbackContext& ctx, std::optional<std::int64_t> n_averaged);

 private:
  bool should_update(std::optional<std::int64_t> step_idx, std::optional<std::int64_t> epoch_idx) const;
  void update(const CallbackContext& ctx);

  Options o_;
  bool active_ = false;
  std::int64_t n_averaged_ = 0;
  std::int64_t latest_update_step_ = 0;
  std::int64_t latest_update_epoch_ = -1;  // not saved in checkpoints, as Lightning's
};

}  // namespace ltrt
