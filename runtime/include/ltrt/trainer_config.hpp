// The arguments of lightning.pytorch.Trainer as a spec's `trainer` section
// gives them, with Lightning's defaults, plus the spec's lr_scheduler. ltgen
// checks these sections with this reader when it generates a program; the
// program reads them again, with the command line's --trainer.NAME=VALUE
// overrides applied.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ltrt/json.hpp"
#include "ltrt/logger_spec.hpp"
#include "ltrt/lr_scheduler.hpp"
#include "ltrt/simple_profiler.hpp"

namespace ltrt {

// limit_*_batches, overfit_batches and val_check_interval take an int (a
// count of batches) or a float (a fraction), as in Lightning.
struct BatchCount {
  bool is_fraction = true;
  double fraction = 1.0;
  std::int64_t count = 0;
  // Lightning's rule: min(n, count) for an int, int(n * fraction) for a float.
  std::int64_t of(std::int64_t n) const;
};

struct TrainerConfig {
  std::int64_t seed = 0;               // the spec's seed_everything
  bool seed_workers = false;           // seed_everything(seed, workers=True): {"seed": N, "workers": true}
  std::int64_t max_epochs = -1;        // -1: unset (1000 when max_steps is unset too)
  std::int64_t min_epochs = -1;        // -1: unset
  std::int64_t max_steps = -1;         // -1: no limit
  std::int64_t min_steps = -1;         // -1: unset
  BatchCount limit_train_batches, limit_val_batches, limit_test_batches, limit_predict_batches;
  BatchCount val_check_interval;       // default 1.0: once per epoch
  std::int64_t check_val_every_n_epoch = 1;  // -1: null (validate by val_check_interval across epochs)
  std::int64_t num_sanity_val_steps = 2;     // -1: the whole validation set
  // 0: off. Lightning makes the train DataLoader again every n epochs; the data do not change
  // here, only the draws of the iterator it makes (Fit's epoch loop).
  std::int64_t reload_dataloaders_every_n_epochs = 0;
  std::int64_t accumulate_grad_batches = 1;
  double gradient_clip_val = 0;        // 0: no clipping
  std::string gradient_clip_algorithm = "norm";  // "norm" | "value"
  std::int64_t fast_dev_run = 0;       // 0: off; true means 1
  BatchCount overfit_batches{false, 0.0, 0};  // 0: off
  std::int64_t log_every_n_steps = 50;
  std::string default_root_dir = ".";
  bool enable_progress_bar = true;
  bool enable_checkpointing = true;
  bool enable_model_summary = true;
  bool logger = true;                  // false: no logger
  // The spec's loggers (ltrt/logger_spec.hpp); empty with logger true: ltgen's default pair,
  // CSVLogger and TensorBoardLogger in <default_root_dir>/lightning_logs/version_N.
  std::vector<LoggerSpec> loggers;
  bool deterministic = false;          // generated programs are deterministic either way
  // Fixed at generation time: the CPU step checks each backward node's gradients for NaN
  // (torch.autograd's anomaly mode) and stops fit with the node that made one.
  bool detect_anomaly = false;
  // Fixed at generation time: under DDP, BatchNorm's training statistics are the whole launch's
  // (torch.nn.SyncBatchNorm, which Lightning's sync_batchnorm converts every BatchNorm*d to); with
  // one process it changes nothing, as SyncBatchNorm falls back to batch_norm there.
  bool sync_batchnorm = false;
  bool syncs_batch_norm() const { return sync_batchnorm && ddp(); }  // the BatchNorms are SyncBatchNorms
  // Under DDP, each rank reads its shard of every loader (Lightning's DistributedSampler, which also
  // shuffles the training one); false: every rank reads the whole data as one process would.
  bool use_distributed_sampler = true;
  bool sharded() const { return ddp() && use_distributed_sampler; }
  // Accepted for Lightning's sake, changing nothing here: evaluation computes no gradients either
  // way (inference_mode: torch.inference_mode or no_grad), and the kernels are fixed at generation
  // time, with nothing to autotune (benchmark: cudnn.benchmark; null is Lightning's default).
  bool inference_mode = true;
  std::optional<bool> benchmark;
  std::string accelerator = "auto";    // fixed at generation time: "auto", "cpu" or "gpu" ("cuda" reads as "gpu")
  // devices=[k, ...]: the GPUs a node's processes train on, one each, in local rank order; empty:
  // GPUs 0..devices-1.
  std::vector<int> device_indices;
  int gpu_of(int local_rank) const { return device_indices.empty() ? local_rank : device_indices.at(local_rank); }
  // DDP, fixed at generation time: devices=N runs N processes per node (mpirun -n N), on the CPU or
  // one a GPU.
  std::string strategy = "auto";       // "auto" or "ddp"
  int devices = 1;                     // processes per node
  int num_nodes = 1;
  int processes() const { return devices * num_nodes; }  // the world size the program expects
  bool ddp() const { return strategy == "ddp" || processes() > 1; }
  std::string precision = "32-true";   // fixed at generation time
  // The spec's precision as Lightning reads it (str(precision): "16", "bf16", "16-mixed", ...):
  // Lightning warns about its old aliases, and runs "16-mixed" on the CPU as "bf16-mixed".
  std::string precision_given;
  // trainer.callbacks and trainer.max_time (a Timer) are read by Callbacks::read (ltrt/callbacks.hpp).
  ProfilerConfig profiler;             // trainer.profiler: Lightning's SimpleProfiler, or none

  // The spec's lr_scheduler, with Lightning's scheduler-config keys.
  std::optional<SchedulerSpec> scheduler;
  std::string scheduler_interval = "epoch";  // "epoch" | "step"
  std::int64_t scheduler_frequency = 1;
  std::string scheduler_monitor;             // ReduceLROnPlateau: the metric it steps on
  std::string scheduler_name;                // the config's "name": LearningRateMonitor's key ("" for none)
  bool scheduler_strict = true;
};

// Reads spec["seed_everything"], spec["trainer"] and spec["lr_scheduler"]
// (absent: defaults). group_lrs are the optimizer's parameter groups' lrs, for
// checking the scheduler's arguments (a scheduler per group). Throws ConfigError naming the key and what is wrong.
TrainerConfig read_trainer_config(const json::Value& spec, const std::vector<double>& group_lrs = {1e-3},
                                  const OptimizerMomentum& optimizer = {});

// The resolved trainer section (defaults filled in), for --print_config.
json::Value trainer_config_json(const TrainerConfig& c);

// Trainer arguments that the generated code depends on: the command line
// cannot change them.
bool trainer_field_is_fixed(const std::string& name);

}  // namespace ltrt
