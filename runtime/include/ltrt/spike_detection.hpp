// lightning.pytorch.callbacks.SpikeDetection (Lightning 2.x, lightning.fabric.utilities.spike): after
// each training batch it compares the batch's loss (training_step's outputs["loss"], divided by
// accumulate_grad_batches) with the running mean of the last `window` losses it accepted, and
// ends fit with "Training spike detected in batch N" when the loss got worse than the previous one
// by more than atol and rtol allow; before that it writes the batches to skip (N - 1 and N) as a
// JSON list to exclude_batches_path (rank 0). Each rank watches its own losses; a spike on any
// rank stops them all. The arithmetic is torch's float32 on 0-dim tensors: the running mean is
// torchmetrics' Running(MeanMetric, window), whose compute adds the window's slots in slot order.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ltrt/callbacks.hpp"

namespace ltrt {

class ConfigObject;

class SpikeDetection : public Callback {
 public:
  struct Options {
    bool maximize = false;              // mode "max": a larger loss is better
    std::int64_t window = 10;           // the running mean's last `window` losses
    std::int64_t warmup = 1;            // batches of each epoch (batch_idx below it) never spike
    std::optional<double> atol;         // none: no absolute bound
    std::optional<double> rtol = 2.0;   // none: no relative bound
    std::optional<std::string> exclude_batches_path;  // none: default_root_dir/skip_batches.json
    bool finite_only = true;            // a NaN or infinite loss is a spike
  };
  explicit SpikeDetection(Options options);
  static std::unique_ptr<SpikeDetection> read(ConfigObject& init_args);

  const char* class_name() const override { return "SpikeDetection"; }
  // Lightning's state_dict keys (last_val, mode, warmup, atol, rtol, bad_batches, bad_batches_path,
  // running, mean), "running" holding the window's losses, which torchmetrics does not save.
  json::Value state() const override;
  // The losses seen (last_val, the window, bad_batches); the options stay the spec's.
  void load_state(const json::Value& state) override;

  void on_train_batch_end(const CallbackContext& ctx) override;

  // The running mean of the window as torchmetrics computes it (NaN before the first loss).
  float running_mean() const;
  // The JSON file the batches to skip go to, for a run whose default_root_dir is `root`.
  std::string skip_path(const std::string& root) const;

 private:
  bool is_spike(float loss) const;

  Options o_;
  // The window's MeanMetric states by slot (seen % window): a loss and weight 1, or 0 and 0 where
  // none is yet or the loss was NaN (MeanMetric drops NaN, with a warning).
  std::vector<float> slots_, weights_;
  std::int64_t seen_ = 0;           // losses added to the window
  float last_val_ = 0.0f;           // the last loss added, NaN too (0.0 before any)
  std::vector<std::int64_t> bad_batches_;
  std::optional<std::string> path_; // the file, once a batch resolved it (Lightning saves it so)
  bool warned_nan_ = false;
};

}  // namespace ltrt
