// lightning.pytorch.callbacks.ThroughputMonitor (Lightning 2.x, with lightning.fabric's Throughput) in
// fit: after each training batch it adds the batch's samples to running counts timed from the
// training's start (validation's time left out), and where the step logs (should_update_logs, at
// the end of an accumulation group) it logs train/time, train/batches, train/samples and, once
// window_size batches are counted, train/device/batches_per_sec and train/device/samples_per_sec
// (and the global rates train/batches_per_sec, train/samples_per_sec under DDP, rank 0's counts
// times the world size) over the window. Each validation counts its own batches the same way
// (validate/...), logged at the evaluation's total batch count. Rank 0 only, as Lightning's.
// batch_size_fn is a Python lambda that gives a batch's rows (the only batch size a spec's data
// has); flops and length_fn are not supported yet.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "ltrt/callbacks.hpp"

namespace ltrt {

class ConfigObject;

class ThroughputMonitor : public Callback {
 public:
  struct Options {
    std::string batch_size_fn;  // "lambda batch: batch[0].size(0)": the batch's rows
    std::int64_t window_size = 100;
    std::string separator = "/";
  };
  explicit ThroughputMonitor(Options options);
  static std::unique_ptr<ThroughputMonitor> read(ConfigObject& init_args);
  const Options& options() const { return o_; }

  const char* class_name() const override { return "ThroughputMonitor"; }

  void on_train_start(const CallbackContext& ctx) override;
  void on_train_batch_end(const CallbackContext& ctx) override;
  void on_validation_start(const CallbackContext& ctx) override;
  void on_validation_batch_end(const CallbackContext& ctx) override;
  void on_validation_end(const CallbackContext& ctx) override;

 private:
  // fabric's Throughput: the last window_size updates of the running counts.
  struct Window {
    std::deque<double> time;
    std::deque<std::int64_t> batches, samples;
    void reset() { time.clear(), batches.clear(), samples.clear(); }
  };
  struct Stage {
    Window window;
    std::int64_t batches = 0, samples = 0;
    double t0 = 0;  // the clock at the stage's start (training's moves past each validation)
  };
  void start(Stage& stage, double now);
  void update(Stage& stage, const CallbackContext& ctx, std::int64_t rows);
  // Throughput.compute, each key prefixed with "<stage><separator>".
  std::vector<std::pair<std::string, double>> compute(const Stage& stage, const char* name, int world_size) const;

  Options o_;
  bool warned_flops_ = false;
  Stage train_, validate_;
};

}  // namespace ltrt
