/// \file
/// Lightning's SimpleProfiler (trainer.profiler "simple", or {"class_path": "SimpleProfiler",
/// "init_args": {"dirpath", "filename", "extended"}}): the wall-clock duration of each call of the
/// trainer's actions, and at the end of the stage a report of each action's mean duration, calls,
/// total time and share of the time since the profiler started, in Lightning's table and order
/// (by share, or by mean without `extended`). The actions are those of Lightning's whose work ltgen
/// does as one piece, under Lightning's names (run_training_epoch, run_training_batch, the
/// loaders' next batch, the strategy's evaluation steps, save_checkpoint), and the user's hooks
/// ("[LightningModule]Model.<hook>"). On a GPU the durations are the host's, as Lightning's: a
/// step's kernels run after their launch returns.
#pragma once

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ltrt {

struct ProfilerConfig {
  bool enabled = false;
  std::string dirpath;   // "": the logger's log_dir (else default_root_dir)
  std::string filename;  // "": print the report; else append it to <dirpath>/<stage>-<filename>.txt
  bool extended = true;  // the calls and percentage columns
};

class SimpleProfiler {
 public:
  explicit SimpleProfiler(bool extended);
  void start(const std::string& action);
  void stop(const std::string& action);
  /// Lightning's SimpleProfiler.summary for `stage` ("fit", "validate", "test", "predict").
  std::string summary(const std::string& stage) const;

 private:
  using Clock = std::chrono::steady_clock;
  bool extended_;
  Clock::time_point start_time_;
  std::vector<std::pair<std::string, Clock::time_point>> running_;
  std::vector<std::pair<std::string, std::vector<double>>> recorded_;  // in the order first recorded
};

/// The stage's profiler when `config` asks for one, else null.
inline std::unique_ptr<SimpleProfiler> make_profiler(const ProfilerConfig& config) {
  return config.enabled ? std::make_unique<SimpleProfiler>(config.extended) : nullptr;
}

/// Lightning's name of a strategy's step: "[Strategy]DDPStrategy.validation_step" under DDP, else
/// SingleDeviceStrategy's.
inline std::string strategy_action(bool ddp, const std::string& step) {
  return std::string("[Strategy]") + (ddp ? "DDPStrategy." : "SingleDeviceStrategy.") + step;
}

/// Times a scope as `action` when `profiler` is set (trainer.profiler given), else does nothing (and
/// allocates nothing: the step loop does not allocate). `action` outlives the scope.
class ProfileScope {
 public:
  ProfileScope(SimpleProfiler* profiler, const char* action) : profiler_(profiler), action_(action) {
    if (profiler_) profiler_->start(action_);
  }
  ~ProfileScope() {
    if (profiler_) profiler_->stop(action_);
  }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  SimpleProfiler* profiler_;
  const char* action_;
};

/// Lightning's Profiler.describe at the end of a stage: the summary printed to `out`, or appended to
/// <dirpath or log_dir>/<stage>-<filename>[-<rank>].txt (the rank under DDP, where every rank
/// writes its own; without a filename rank 0 prints).
void describe_profile(const SimpleProfiler& profiler, const ProfilerConfig& config, const std::string& stage,
                      const std::string& log_dir, std::optional<int> rank, std::FILE* out);

/// Python's format(x, ".5"): five significant digits, as %g, with ".0" added to a whole number
/// in fixed notation (Lightning's report formats its durations so).
std::string python_format_5(double x);

}  // namespace ltrt
