// lightning.pytorch.callbacks.ModelCheckpoint (Lightning 2.6's model_checkpoint.py),
// with FILE_EXTENSION ".safetensors" (ltrt's checkpoints) instead of ".ckpt".
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ltrt/callbacks.hpp"

namespace ltrt {

class ConfigObject;

// A value in ModelCheckpoint's monitor candidates: Python's int (epoch, step,
// missing names) or float (a float32 metric's item()).
struct PyScalar {
  bool is_int = false;
  std::int64_t i = 0;
  double f = 0;
  static PyScalar of_int(std::int64_t v) { return PyScalar{true, v, 0}; }
  static PyScalar of_float(double v) { return PyScalar{false, 0, v}; }
};
using MonitorCandidates = std::vector<std::pair<std::string, PyScalar>>;  // dict order

// format(value, spec) of Python's format-spec mini-language for int and float
// ([[fill]align][sign][z][#][0][width][,|_][.precision][type]); throws
// ltrt::Error as Python raises ValueError ("Unknown format code 'd' for object
// of type 'float'").
std::string python_format(const PyScalar& value, const std::string& spec);

class ModelCheckpoint : public Callback {
 public:
  static constexpr const char* CHECKPOINT_JOIN_CHAR = "-";
  static constexpr const char* CHECKPOINT_EQUALS_CHAR = "=";
  static constexpr const char* CHECKPOINT_NAME_LAST = "last";
  static constexpr const char* FILE_EXTENSION = ".safetensors";
  static constexpr int STARTING_VERSION = 1;

  struct Options {
    std::string dirpath;            // "": <log_dir>/checkpoints (or <default_root_dir>/checkpoints), set in setup()
    std::string filename;           // "": "{epoch}-{step}"
    std::string monitor;            // "": None
    bool verbose = false;
    std::string save_last;          // "": None/False, "true": True, "link"
    std::int64_t save_top_k = 1;
    bool save_weights_only = false;
    std::string mode = "min";
    bool auto_insert_metric_name = true;
    std::optional<std::int64_t> every_n_train_steps;
    std::optional<double> train_time_interval;  // seconds
    std::optional<std::int64_t> every_n_epochs;
    std::optional<bool> save_on_train_epoch_end;
    bool save_on_exception = false;  // on_exception: a checkpoint of the state fit raised in
    bool enable_version_counter = true;
  };

  // __init__: the triggers' defaults and __validate_init_configuration; throws ltrt::Error with Lightning's
  // message ("Invalid value for save_top_k=-2. Must be >= -1", ...).
  explicit ModelCheckpoint(Options options);
  static std::unique_ptr<ModelCheckpoint> read(ConfigObject& init_args);

  const char* class_name() const override { return "ModelCheckpoint"; }
  // "ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 1,
  // 'train_time_interval': None}"
  std::string state_key() const override;
  // {"monitor", "best_model_score", "best_model_path", "current_score", "dirpath", "best_k_models",
  //  "kth_best_model_path", "kth_value", "last_model_path"}; scores as state_number, None as null.
  json::Value state() const override;
  // As Lightning: all of it when the stored dirpath is this one's (resolved in setup()), else only
  // best_model_path (with Lightning's warning, through the last context's warn sink / stderr).
  void load_state(const json::Value& state) override;

  void setup(const CallbackContext& ctx) override;
  void on_train_start(const CallbackContext& ctx) override;
  void on_train_batch_end(const CallbackContext& ctx) override;
  void on_train_epoch_end(const CallbackContext& ctx) override;
  void on_validation_end(const CallbackContext& ctx) override;
  void on_train_end(const CallbackContext& ctx) override;
  void on_exception(const CallbackContext& ctx, const std::exception& exception) override;

  // format_checkpoint_name(metrics, filename=None, ver=None): <dirpath>/<name>[-v<ver>].safetensors.
  // `metrics` gets 0 (int) for the template's names it lacks, as Lightning's does.
  std::string format_checkpoint_name(MonitorCandidates& metrics, const std::string& filename = "",
                                     std::optional<int> ver = std::nullopt) const;
  // _monitor_candidates: callback_metrics (float32) plus "epoch" and "step" as ints.
  MonitorCandidates monitor_candidates(const CallbackContext& ctx) const;
  bool should_save_on_train_epoch_end(const CallbackContext& ctx) const;

  const Options& options() const { return o_; }
  std::int64_t every_n_train_steps() const { return every_n_train_steps_; }
  std::int64_t every_n_epochs() const { return every_n_epochs_; }

  // Lightning's attributes.
  std::string dirpath;
  std::vector<std::pair<std::string, double>> best_k_models;  // path -> float32 score, dict order
  std::string kth_best_model_path;
  double kth_value = 0;
  std::optional<double> best_model_score;
  std::string best_model_path;
  std::string last_model_path;
  std::optional<double> current_score;

 private:
  void save_topk_checkpoint(const CallbackContext& ctx, MonitorCandidates& candidates);
  void save_last_checkpoint(const CallbackContext& ctx, MonitorCandidates& candidates);
  void save_monitor_checkpoint(const CallbackContext& ctx, MonitorCandidates& candidates);
  void save_none_monitor_checkpoint(const CallbackContext& ctx, MonitorCandidates& candidates);
  void update_best_and_save(double current, const CallbackContext& ctx, MonitorCandidates& candidates);
  void save_checkpoint(const CallbackContext& ctx, const std::string& filepath);
  void link_checkpoint(const std::string& filepath, const std::string& linkpath) const;
  bool should_skip_saving_checkpoint(const CallbackContext& ctx) const;
  bool last_is_due(const CallbackContext& ctx) const;
  bool should_remove_checkpoint(const CallbackContext& ctx, const std::string& previous,
                                const std::string& current) const;
  void remove_checkpoint(const CallbackContext& ctx, const std::string& filepath) const;
  std::string metric_interpolated_filepath(const CallbackContext& ctx, MonitorCandidates& candidates,
                                           const std::string& del_filepath) const;
  bool check_monitor_top_k(const CallbackContext& ctx, std::optional<double> current) const;
  double* best_k_find(const std::string& path);

  Options o_;
  std::int64_t every_n_train_steps_ = 0;
  std::int64_t every_n_epochs_ = 0;
  std::int64_t last_global_step_saved_ = 0;  // "no need to save when no steps were taken"
  std::optional<double> last_time_checked_;
  std::string last_checkpoint_saved_;
  bool warned_missing_monitor_ = false;      // warning_cache.warn: once
  bool defer_save_until_validation_ = false; // a step's save waits for validation's metrics
  std::function<void(const std::string&)> warn_;
};

}  // namespace ltrt
