// Lightning's Trainer for a generated model. The fit loop follows
// lightning/pytorch/loops/{fit_loop,training_epoch_loop}.py (2.x): the order
// of a batch is training_step (loss / accumulate_grad_batches, backward),
// clip, optimizer step, step-interval schedulers, on_train_batch_end, step
// logging, then validation when due, plateau schedulers and the
// _batches_that_stepped count that logged steps use.
#include "ltrt/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ltrt/arena.hpp"
#include "ltrt/backbone_finetuning.hpp"
#include "ltrt/backend.hpp"
#include "ltrt/callbacks.hpp"
#include "ltrt/checkpoint.hpp"
#include "ltrt/config_reader.hpp"
#include "ltrt/csv_logger.hpp"
#include "ltrt/data_loader.hpp"
#include "ltrt/device_stats_monitor.hpp"
#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"
#include "ltrt/generate_text.hpp"
#include "ltrt/hook_calls.hpp"
#include "ltrt/hparams_yaml.hpp"
#include "ltrt/init.hpp"
#include "ltrt/learning_rate_finder.hpp"
#include "ltrt/lr_scheduler.hpp"
#include "ltrt/metrics.hpp"
#include "ltrt/model_checkpoint.hpp"
#include "ltrt/model_summary.hpp"
#include "ltrt/npy.hpp"
#include "ltrt/optimizer.hpp"
#include "ltrt/process_group.hpp"
#include "ltrt/progress_bar.hpp"
#include "ltrt/python_repr.hpp"
#include "ltrt/rng.hpp"
#include "ltrt/safetensors.hpp"
#include "ltrt/simple_profiler.hpp"
#include "ltrt/stochastic_weight_averaging.hpp"
#include "ltrt/tensorboard_logger.hpp"
#include "ltrt/throughput_monitor.hpp"
#include "ltrt/timer.hpp"
#include "ltrt/torch_global_draws.hpp"
#include "ltrt/weight_averaging.hpp"

namespace fs = std::filesystem;

namespace ltrt {

namespace {

using Metrics = std::vector<std::pair<std::string, double>>;

std::string join_path(const std::string& a, const std::string& b) { return (fs::path(a) / b).string(); }

// The run's loggers: ltgen's default pair (CSVLogger and TensorBoardLogger, both in
// <root>/lightning_logs/version_N), or the spec's trainer.logger list, each in its own
// save_dir/name/version as Lightning's are. The first one's folder is the trainer's log_dir
// (checkpoints go there). Under DDP only rank 0 writes (the loggers' methods are
// rank_zero_only); the other ranks count the same rows and know rank 0's folder.
class Loggers {
 public:
  Loggers(const TrainerConfig& t, const ModelDef& model, const ProcessGroup& group) {
    if (!t.logger || t.fast_dev_run > 0) return;  // fast_dev_run: "Logging and checkpointing is suppressed"
    enabled_ = true;
    if (group.is_global_zero()) {
      // The generator checked the spec text; a parse error here is a real fault.
      const json::Value hparams = json::parse(model.spec_json ? model.spec_json : "{}");
      if (t.loggers.empty()) {
        const std::string root = join_path(t.default_root_dir, "lightning_logs");
        dir_ = join_path(root, "version_" + std::to_string(next_version(root)));
        make_dirs(dir_);
        write_hparams_yaml(join_path(dir_, "hparams.yaml"), hparams);
        sinks_.push_back(Sink{"", std::make_unique<CsvLogger>(join_path(dir_, "metrics.csv")),
                              std::make_unique<TensorBoardLogger>(dir_)});
        sinks_.back().tb->log_hparams(hparams);
      }
      // One after another, as Lightning's log_hyperparams creates each one's folder: a second
      // logger in the same save_dir/name takes the next version.
      for (const LoggerSpec& l : t.loggers) {
        const std::string root = l.root_dir();
        const std::string dir = join_path(root, l.version ? *l.version : "version_" + std::to_string(next_version(root)));
        if (dir_.empty()) dir_ = dir;
        Sink sink{l.prefix, nullptr, nullptr};
        if (l.kind == LoggerSpec::Kind::csv) {
          // CSVLogger's _check_log_dir_exists
          if (std::error_code ec; fs::is_directory(dir, ec) && !fs::is_empty(dir, ec)) {
            std::fprintf(stderr, "UserWarning: Experiment logs directory %s exists and is not empty. Previous log files "
                                 "in this directory will be deleted when the new ones are saved!\n", dir.c_str());
            fs::remove(fs::path(dir) / "metrics.csv", ec);  // at once, as Lightning does
          }
          make_dirs(dir);
          write_hparams_yaml(join_path(dir, "hparams.yaml"), hparams);
          sink.csv = std::make_unique<CsvLogger>(join_path(dir, "metrics.csv"), l.flush_logs_every_n_steps);
        } else {
          sink.tb = std::make_unique<TensorBoardLogger>(l.sub_dir ? join_path(dir, *l.sub_dir) : dir,
                                                        l.default_hp_metric, l.prefix);
          sink.tb->log_hparams(hparams);
        }
        sinks_.push_back(std::move(sink));
      }
    }
    dir_ = group.broadcast(dir_);
  }
  bool enabled() const { return enabled_; }
  const std::string& dir() const { return dir_; }
  std::int64_t rows() const { return rows_; }

  // Lightning's LoggerConnector.log_metrics: "epoch" joins the metrics unless
  // they come from a callback's own logger call (LearningRateMonitor); each logger puts its
  // prefix before every name ("<prefix>-<name>", _add_prefix).
  void log(const Metrics& metrics, std::int64_t step, std::optional<std::int64_t> epoch) {
    if (!enabled() || metrics.empty()) return;
    ++rows_;
    for (Sink& sink : sinks_) {  // none on a rank other than 0
      auto named = [&](const std::string& k) { return sink.prefix.empty() ? k : sink.prefix + "-" + k; };
      if (sink.csv) {
        std::vector<std::pair<std::string, CsvLogger::MetricValue>> values;
        for (const auto& [k, v] : metrics) values.push_back({named(k), CsvLogger::MetricValue(v)});
        if (epoch) values.push_back({named("epoch"), CsvLogger::MetricValue(*epoch)});
        sink.csv->log_values(values, step);
      }
      if (sink.tb) {
        Metrics scalars;
        for (const auto& [k, v] : metrics) scalars.push_back({named(k), v});
        if (epoch) scalars.push_back({named("epoch"), static_cast<double>(*epoch)});
        sink.tb->log_scalars(scalars, step);
      }
    }
  }
  void save() {
    for (Sink& sink : sinks_) {
      if (sink.csv) sink.csv->save();
      if (sink.tb) sink.tb->flush();
    }
  }

 private:
  // One folder's writers: the default pair shares one; a spec's logger has one of them.
  struct Sink {
    std::string prefix;
    std::unique_ptr<CsvLogger> csv;
    std::unique_ptr<TensorBoardLogger> tb;
  };
  bool enabled_ = false;
  std::string dir_;
  std::vector<Sink> sinks_;
  std::int64_t rows_ = 0;
};

// A train-step row waiting for the loggers: kept in a reserved buffer so that
// the step loop does not allocate, written out before anything logged later.
struct StepRow {
  std::int64_t epoch, step;
  float loss;
  double metric[kMaxMetrics];  // model.metrics' values
  Metrics logged;  // a callback's own log call (LearningRateMonitor): no loss, no epoch column ...
  bool logged_epoch = false;  // ... unless it logged without a step (ThroughputMonitor's training rows)
};

// The launch against the spec: fit runs as many processes as trainer.devices x trainer.num_nodes
// ask for (mpirun -n N); validate and test run in one process or in that many (each rank on its
// shard, as Lightning's would); predict in one.
void check_launch(const ProcessGroup& group, const TrainerConfig& t, const std::string& subcommand) {
  const int want = t.processes();
  const std::string asked = "trainer.devices=" + std::to_string(t.devices) +
                            (t.num_nodes > 1 ? " x trainer.num_nodes=" + std::to_string(t.num_nodes) : "");
  if (group.launched() > 1 && group.size() == 1) {
    if (ProcessGroup::built_with_mpi())
      throw LaunchError("the launcher started " + std::to_string(group.launched()) + " processes, but MPI sees each "
                        "alone: start the program with the mpirun of the MPI it was built with");
    throw LaunchError("launched as " + std::to_string(group.launched()) + " processes, but this program was built for one (its "
                "spec's trainer has no strategy \"ddp\" or devices > 1): run it without mpirun, or regenerate it from "
                "a spec that asks for processes");
  }
  if (subcommand == "predict") {
    if (group.size() > 1)
      throw LaunchError("predict runs in one process: launch it without mpirun (it writes every row's prediction itself)");
    return;
  }
  if (group.size() == want || (group.size() == 1 && subcommand != "fit")) return;
  if (group.size() == 1)
    throw LaunchError(asked + " asks for " + std::to_string(want) + " processes (DDP): launch the program with mpirun -n " +
                std::to_string(want) + " (e.g. `mpirun -n " + std::to_string(want) + " ./PROGRAM fit`)");
  throw LaunchError("launched as " + std::to_string(group.size()) + " processes, but " + asked + " asks for " +
              std::to_string(want) + ": launch it with mpirun -n " + std::to_string(want));
}

// DDP's start: every rank takes rank 0's parameters and buffers (DistributedDataParallel's
// _sync_module_states), whatever each initialised or loaded.
void broadcast_model(const ProcessGroup& group, const ModelDef& model, std::byte* arena) {
  if (!group.distributed()) return;
  group.broadcast(arena + model.params_offset, static_cast<std::size_t>(model.num_param_elements) * sizeof(float));
  broadcast_buffers(group, model, arena);
}

// `message` (e's, with what fit or a hook adds) thrown as an Error, or as e's own kind where main
// tells them apart: under DDP the ranks' agreement on a setup error stands (ltrt/process_group.hpp).
[[noreturn]] void throw_like(const std::exception& e, const std::string& message) {
  if (dynamic_cast<const PeerFailure*>(&e)) throw PeerFailure(message);
  if (dynamic_cast<const AgreedError*>(&e)) throw AgreedError(message);
  if (dynamic_cast<const RankFatal*>(&e)) throw RankFatal(message);
  throw Error(message);
}

// Lightning's warning for epoch-level values logged under DDP without sync_dist (result.py's
// _get_cache: rank 0, once a name); each rank keeps its own, and rank 0's shard is what gets logged.
void warn_unless_synced(const ModelDef& model, const EvalSums& sums, const ProcessGroup& group,
                        const std::string& prefix) {
  if (!group.distributed() || model.sync_dist || sums.rows == 0) return;  // only what was logged
  static std::set<std::string> warned;
  for (int k = -1; k < model.num_metrics; ++k) {  // the loss, then the metrics
    if (k >= 0 && model.metrics[k].module) continue;  // a Metric object syncs itself
    const std::string name = prefix + "_" + (k < 0 ? std::string("loss") : metric_name(model, k));
    if (!warned.insert(name).second) continue;
    std::fprintf(group.rank_zero(stderr),
                 "PossibleUserWarning: It is recommended to use `self.log('%s', ..., sync_dist=True)` when "
                 "logging on epoch level in distributed setting to accumulate the metric across devices.\n",
                 name.c_str());
  }
}

// Where this rank's `count` items go among every rank's, in rank order: the items before them, and
// all of them.
struct RankSlice {
  std::size_t before = 0, total = 0;
};
RankSlice rank_slice(const ProcessGroup& group, std::size_t count) {
  std::vector<double> sizes(static_cast<std::size_t>(group.size()), 0.0);
  sizes[static_cast<std::size_t>(group.rank())] = static_cast<double>(count);
  group.sum(sizes.data(), group.size());
  RankSlice slice;
  for (int r = 0; r < group.size(); ++r) {
    if (r < group.rank()) slice.before += static_cast<std::size_t>(sizes[static_cast<std::size_t>(r)]);
    slice.total += static_cast<std::size_t>(sizes[static_cast<std::size_t>(r)]);
  }
  return slice;
}

// Every rank's scores in rank order (torchmetrics' all_gather of its list states), through sums of
// float64: each rank fills its own slice of zeros (x + 0 is x, and a label is a small integer).
EpochScores gather_scores(const ProcessGroup& group, const EpochScores& mine, std::int64_t width) {
  const auto [before, total] = rank_slice(group, mine.labels.size());
  const std::size_t w = static_cast<std::size_t>(width);
  std::vector<double> labels(total, 0.0), scores(total * w, 0.0);
  std::copy(mine.labels.begin(), mine.labels.end(), labels.begin() + static_cast<std::ptrdiff_t>(before));
  std::copy(mine.scores.begin(), mine.scores.end(), scores.begin() + static_cast<std::ptrdiff_t>(before * w));
  group.sum(labels.data(), static_cast<int>(labels.size()));
  group.sum(scores.data(), static_cast<int>(scores.size()));
  EpochScores all;
  all.labels.assign(labels.begin(), labels.end());
  all.scores.assign(scores.begin(), scores.end());
  return all;
}

// Every rank's moments merged in rank order, as a synced Metric's compute() does (_final_aggregation),
// gathered through sums of float64 as gather_scores does.
PearsonMoments gather_moments(const ProcessGroup& group, const PearsonMoments& mine) {
  constexpr int kFields = 8;
  std::vector<double> all(static_cast<std::size_t>(kFields * group.size()), 0.0);
  const float fields[kFields] = {mine.mean_x, mine.mean_y, mine.max_abs_dev_x, mine.max_abs_dev_y,
                                 mine.var_x,  mine.var_y,  mine.corr_xy,       mine.n_total};
  std::copy(fields, fields + kFields, all.begin() + kFields * group.rank());
  group.sum(all.data(), static_cast<int>(all.size()));
  PearsonMoments merged;
  for (int r = 0; r < group.size(); ++r) {
    const double* f = all.data() + kFields * r;
    const PearsonMoments rank{static_cast<float>(f[0]), static_cast<float>(f[1]), static_cast<float>(f[2]),
                              static_cast<float>(f[3]), static_cast<float>(f[4]), static_cast<float>(f[5]),
                              static_cast<float>(f[6]), static_cast<float>(f[7])};
    merged = r == 0 ? rank : pearson_merge(merged, rank);
  }
  return merged;
}

// Every rank's values in rank order (torchmetrics' all_gather of its list states), as gather_scores.
EpochValues gather_values(const ProcessGroup& group, const EpochValues& mine) {
  const auto [before, total] = rank_slice(group, mine.preds.size());
  std::vector<double> all(2 * total, 0.0);
  std::copy(mine.preds.begin(), mine.preds.end(), all.begin() + static_cast<std::ptrdiff_t>(before));
  std::copy(mine.targets.begin(), mine.targets.end(), all.begin() + static_cast<std::ptrdiff_t>(total + before));
  group.sum(all.data(), static_cast<int>(all.size()));
  EpochValues values;
  values.preds.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(total));
  values.targets.assign(all.begin() + static_cast<std::ptrdiff_t>(total), all.end());
  return values;
}

// An epoch's logged values, `<prefix>_loss` (and its metrics, `_acc`, ...), from its sums: an
// evaluation's, or training's under model.log.on_epoch (Lightning's _ResultMetric.compute: the sum
// of batch mean x batch size over the sum of batch sizes); nothing when no row was seen. With
// sync_dist under DDP both sums are first averaged over the ranks, strategy.reduce's "mean":
// divided by the world size, the sum of batch sizes, an integer tensor, with truncation. Every rank
// calls this. The values come in Lightning's order (the loss, then the metrics as the step logs
// them). A Metric object's value is its compute() over its part of `states`: the stat scores
// (`counts`), summed over the ranks first (torchmetrics syncs its states, sync_dist or not), an
// auroc or average_precision object's over `scores`, every rank's, the column sums' objects' over
// `r2`, summed over the ranks, a pearson_corrcoef object's over `moments`, every rank's merged in
// rank order, a spearman_corrcoef, kendall_rank_corrcoef or cosine_similarity object's over
// `values`, every rank's in rank order, or a critical_success_index object's over `success` or an
// exact_match object's over `exact`, or a weighted cohen_kappa object's over `confusion`, summed
// over the ranks.
Metrics epoch_metrics(const ModelDef& model, EvalSums sums, MetricStates states, const ProcessGroup& group,
                      const std::string& prefix) {
  warn_unless_synced(model, sums, group, prefix);
  std::vector<std::int64_t>& counts = states.counts.stats;
  EpochScores& scores = states.scores;
  R2Sums& r2 = states.r2;
  PearsonMoments& moments = states.moments;
  EpochValues& values = states.values;
  SuccessCounts& success = states.success;
  ExactMatchCount& exact = states.exact;
  ConfusionCounts& confusion = states.confusion;
  const MetricsShape shape = metrics_shape(model);
  // An error's Metric object: its summed errors over its count, every rank's (torchmetrics syncs
  // them whatever sync_dist says); each batch added mean x rows, sum / per_row, so this is
  // sum / count.
  double error_objects[kMaxMetrics] = {};
  bool any_error_object = false;
  for (int k = 0; k < model.num_metrics; ++k)
    any_error_object = any_error_object || (shape.metric[k].module && compares_elements(shape.metric[k].kind));
  if (any_error_object) {
    double all[kMaxMetrics + 1] = {static_cast<double>(sums.rows)};
    for (int k = 0; k < model.num_metrics; ++k) all[1 + k] = sums.metric[k];
    if (group.distributed()) group.sum(all, 1 + model.num_metrics);
    for (int k = 0; k < model.num_metrics; ++k) {
      error_objects[k] = all[0] > 0 ? all[1 + k] / all[0] : 0.0;
      if (shape.metric[k].root) error_objects[k] = std::sqrt(error_objects[k]);  // the root of the epoch's mean
    }
  }
  if (group.distributed() && model.sync_dist) {
    double all[kMaxMetrics + 2] = {sums.loss, static_cast<double>(sums.rows)};
    for (int k = 0; k < model.num_metrics; ++k) all[2 + k] = sums.metric[k];
    group.sum(all, 2 + model.num_metrics);
    sums.loss = all[0] / group.size();
    sums.rows = static_cast<std::int64_t>(all[1]) / group.size();
    for (int k = 0; k < model.num_metrics; ++k) sums.metric[k] = all[2 + k] / group.size();
  }
  if (shape.any_counted() && group.distributed()) {
    // Every rank's counts, as float64 sums (exact below 2^53); a rank that saw no batch adds zeros.
    std::vector<double> all(static_cast<std::size_t>(shape.stats_entries()), 0.0);
    for (std::size_t i = 0; i < counts.size() && i < all.size(); ++i) all[i] = static_cast<double>(counts[i]);
    group.sum(all.data(), static_cast<int>(all.size()));
    counts.assign(all.begin(), all.end());
  }
  if (shape.any_scored() && group.distributed()) scores = gather_scores(group, scores, shape.score_classes());
  if (shape.any_r2_object() && group.distributed()) {
    // Every rank's float32 sums added in float64 and rounded (two ranks: float32's own sum); a rank
    // that saw no batch adds zeros.
    const std::size_t entries = 4 * static_cast<std::size_t>(shape.per_row) + 2;  // R2Sums' layout
    std::vector<double> all(entries + 1, 0.0);
    for (std::size_t i = 0; i < r2.sums.size() && i < entries; ++i) all[i] = r2.sums[i];
    all[entries] = static_cast<double>(r2.rows);
    group.sum(all.data(), static_cast<int>(all.size()));
    r2.sums.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(entries));
    r2.rows = static_cast<std::int64_t>(all[entries]);
  }
  if (shape.any_moments_object() && group.distributed()) moments = gather_moments(group, moments);
  if (shape.any_values_object() && group.distributed()) values = gather_values(group, values);
  if (shape.any_success_object() && group.distributed()) {  // every rank's counts, summed (exact below 2^53)
    double all[3] = {static_cast<double>(success.hits), static_cast<double>(success.misses),
                     static_cast<double>(success.false_alarms)};
    group.sum(all, 3);
    success = {static_cast<std::int64_t>(all[0]), static_cast<std::int64_t>(all[1]), static_cast<std::int64_t>(all[2])};
  }
  if (shape.any_confusion_object() && group.distributed()) {  // every rank's counts, summed (exact below 2^53)
    const auto cells = static_cast<std::size_t>(shape.accuracy.classes * shape.accuracy.classes);
    std::vector<double> all(cells, 0.0);
    for (std::size_t i = 0; i < confusion.counts.size() && i < cells; ++i)
      all[i] = static_cast<double>(confusion.counts[i]);
    group.sum(all.data(), static_cast<int>(all.size()));
    confusion.counts.assign(all.begin(), all.end());
  }
  if (shape.any_exact_object() && group.distributed()) {  // every rank's counts, summed (exact below 2^53)
    double all[2] = {static_cast<double>(exact.correct), static_cast<double>(exact.total)};
    group.sum(all, 2);
    exact = {static_cast<std::int64_t>(all[0]), static_cast<std::int64_t>(all[1])};
  }
  Metrics m;
  if (sums.rows > 0) {
    const double rows = static_cast<double>(sums.rows);
    m.push_back({prefix + "_loss", static_cast<float>(sums.loss / rows)});
    for (int k = 0; k < model.num_metrics; ++k) {
      bool near_zero = false;
      const MetricDef& def = shape.metric[k];
      const double value =
          shape.scored(k)           ? ranked_score(def.kind, shape.accuracy, def.average, scores)
          : shape.moments_object(k) ? correlation_value(def.kind, moments, &near_zero)
          : shape.success_object(k) ? critical_success_index_value(success.hits, success.misses, success.false_alarms)
          : shape.exact_object(k)   ? exact.value()
          : shape.confusion_object(k)
              ? weighted_cohen_kappa(confusion.counts.data(), shape.accuracy.classes, def.weights)
          : shape.values_object(k)
              ? kept_values_value(def, values.preds.data(), values.targets.data(),
                                  static_cast<std::int64_t>(values.preds.size()) / shape.per_row, shape.per_row)
          : shape.r2_object(k) && def.kind != MetricKind::r2_score
              ? column_sums_value(def.kind, r2.sums.data(), shape.per_row, r2.rows, def.average, 0, def.root)
          : shape.r2_object(k) ? r2_score(r2, shape.per_row, def.average, "the " + prefix + " epoch", def.adjusted)
          : shape.counted(k)   ? stats_score(shape, k, counts)
          : def.module         ? error_objects[k]
                               : sums.metric[k] / rows;
      if (near_zero) warn_correlation_near_zero();
      m.push_back({prefix + "_" + metric_name(model, k), static_cast<float>(value)});
    }
  }
  return m;
}

// The results table Lightning prints after validate/test.
void print_results(std::FILE* out, const char* stage, const std::map<std::string, double>& metrics) {
  const std::string title = std::string(stage) + " metric";
  std::size_t width = title.size();
  for (const auto& [k, v] : metrics) width = std::max(width, k.size());
  const std::string rule(width + 28, '-');
  std::fprintf(out, "%s\n%*s%*s\n%s\n", rule.c_str(), static_cast<int>(width), title.c_str(), 20, "DataLoader 0",
               rule.c_str());
  for (const auto& [k, v] : metrics) std::fprintf(out, "%*s%20.10g\n", static_cast<int>(width), k.c_str(), v);
  std::fprintf(out, "%s\n", rule.c_str());
}

// Lightning's fast_dev_run: n batches of every loop, one epoch, no sanity
// check, and no logging or checkpointing.
TrainerConfig effective(const TrainerConfig& in) {
  TrainerConfig t = in;
  if (t.fast_dev_run > 0) {
    const BatchCount n{false, 0, t.fast_dev_run};
    t.limit_train_batches = t.limit_val_batches = t.limit_test_batches = t.limit_predict_batches = n;
    t.max_steps = t.fast_dev_run;
    t.max_epochs = 1;
    t.num_sanity_val_steps = 0;
    t.val_check_interval = BatchCount{};
    t.check_val_every_n_epoch = 1;
    t.enable_checkpointing = false;
  }
  if (!(t.overfit_batches.is_fraction ? t.overfit_batches.fraction == 0 : t.overfit_batches.count == 0)) {
    // overfit_batches: the same first batches every epoch, also for validation.
    t.limit_train_batches = t.limit_val_batches = t.overfit_batches;
  }
  return t;
}

bool overfitting(const TrainerConfig& t) {
  return t.overfit_batches.is_fraction ? t.overfit_batches.fraction > 0 : t.overfit_batches.count > 0;
}

// The spec without callbacks under fast_dev_run (Lightning disables the
// checkpointing, early-stopping and LR-monitoring callbacks then).
// Whether a trainer.callbacks entry's class_path ends with `name` ("OnExceptionCheckpoint" matches
// the class's module paths too).
bool callback_class_is(const json::Value& entry, const std::string& name) {
  const json::Value* path = entry.is_object() ? entry.find("class_path") : nullptr;
  const std::string p = path && path->is_string() ? path->str : "";
  return p.size() >= name.size() && p.compare(p.size() - name.size(), name.size(), name) == 0;
}

json::Value callbacks_spec(const FitConfig& config) {
  if (config.trainer.fast_dev_run == 0) return config.spec;
  json::Value spec = config.spec;
  if (const json::Value* t = spec.find("trainer")) {
    json::Value trainer = json::Value::make_object();
    for (const auto& [k, v] : t->members)
      if (k != "callbacks") trainer.set(k, v);
    // ... but not weight averaging, which Lightning keeps, nor the progress bar and summary, which
    // still show, nor OnExceptionCheckpoint, which still saves on an exception (only ModelCheckpoint
    // skips saving under fast_dev_run), nor SpikeDetection, which still watches the losses.
    if (const json::Value* list = t->find("callbacks")) {
      json::Value kept = json::Value::make_array();
      for (const json::Value& cb : list->is_array() ? list->items : std::vector<json::Value>{*list})
        for (const char* name :
             {"WeightAveraging", "TQDMProgressBar", "ModelSummary", "OnExceptionCheckpoint", "SpikeDetection"})
          if (callback_class_is(cb, name)) {
            kept.push(cb);
            break;
          }
      if (!kept.items.empty()) trainer.set("callbacks", kept);
    }
    spec.set("trainer", trainer);
  }
  return spec;
}

// The enable_checkpointing that Callbacks::read checks the callbacks of callbacks_spec against: the
// spec's, except under fast_dev_run (whose effective trainer has none), where a kept
// OnExceptionCheckpoint still needs the spec's and only its absence means no default ModelCheckpoint
// (Lightning's would skip every save there).
bool checkpointing_of_callbacks(const FitConfig& config, const json::Value& spec_callbacks) {
  if (config.trainer.fast_dev_run == 0) return config.trainer.enable_checkpointing;
  const json::Value* t = spec_callbacks.find("trainer");
  const json::Value* list = t ? t->find("callbacks") : nullptr;
  if (!list || !list->is_array()) return false;
  for (const json::Value& cb : list->items)
    if (callback_class_is(cb, "OnExceptionCheckpoint")) return config.trainer.enable_checkpointing;
  return false;
}

// A hook point of fit: the spec's callbacks, then the user's hook as one more Callback that Lightning's
// _reorder_callbacks leaves before the ModelCheckpoints, then the ModelCheckpoints.
#define LTRT_CALLBACKS_AND_HOOK(name, args)                     \
  if constexpr (user_hooks::name) {                             \
    callbacks_.name(context(), CallbackRange::before_checkpoints); \
    LTRT_USER_HOOK(*this, name, args)                           \
    callbacks_.name(context(), CallbackRange::checkpoints);     \
  } else {                                                      \
    callbacks_.name(context());                                 \
  }

class Fit {
 public:
  Fit(const ModelDef& model, const FitConfig& config, std::FILE* out)
      : model_(model),
        config_(config),
        t_(effective(config.trainer)),
        group_(ProcessGroup::world()),
        out_(group_.rank_zero(out)),
        rngs_(seed_everything(t_.seed)),
        arena_(model.arena_bytes),
        optimizer_(model, arena_.data()),
        trainer_(callback_metrics_, logged_metrics_, hook_access()) {
    profiler_ = make_profiler(t_.profiler);
    validation_step_action_ = strategy_action(t_.ddp(), "validation_step");
    // Lightning's Trainer says which precision and device it picked when it is made, before fit
    // sets up the processes (nothing is uploaded yet: the arena is filled below).
    backend_ = make_backend(model, arena_, t_, group_.rank_zero(stderr), group_);
    if (group_.distributed())  // DDPStrategy.setup_distributed's line, from every rank
      std::fprintf(stderr, "Initializing distributed: GLOBAL_RANK: %d, MEMBER: %d/%d\n", group_.rank(), group_.rank() + 1,
                   group_.size());
    trainer_.global_rank = group_.rank();
    trainer_.world_size = group_.size();
    trainer_.is_global_zero = group_.is_global_zero();
    if (user_hooks::split_step && (!model.training_forward || !model.training_backward))
      throw Error("the program's hooks run between forward and backward, but its model has no training_forward and "
                  "training_backward: regenerate it with ltgen");
    TorchGenerator torch_generator(static_cast<std::uint64_t>(t_.seed));  // torch.manual_seed(seed)
    init_parameters(model, arena_.data(), torch_generator);
    // What the DataLoader iterators and dropout draw from next. Lightning's DDP strategy seeds torch
    // again as it sets the processes up (setup_distributed's reset_seed), after the initialisation.
    torch_global_.emplace(t_.ddp() ? TorchGenerator(static_cast<std::uint64_t>(t_.seed)) : torch_generator);
    const ClassTargets classes = class_targets_of(model, true);
    // Agreed before the broadcast: a rank that cannot read its files must not leave the others
    // sending it weights it never receives.
    group_.agree_on_failure([&] {
      TorchGenerator train_randn = randn_generator(t_.seed, Split::train), val_randn = randn_generator(t_.seed, Split::val);
      train_data_ = load_dataset(config.train, model.input, model.target, train_randn, classes, other_inputs_of(model));
      if (config.val.kind != DataSourceKind::none)
        val_data_ = load_dataset(with_train_vocabulary(config.val, config.train), model.input, model.target,
                                 val_randn, classes, other_inputs_of(model));
      if (!config.init_weights.empty()) load_weights(config.init_weights, model, arena_.data());
    });
    broadcast_model(group_, model, arena_.data());
    backend_->upload();
    // Under DDP Lightning shuffles the training loader whatever its shuffle says (not when overfitting),
    // with its DistributedSampler (use_distributed_sampler).
    const Shard shard{t_.sharded(), group_.rank(), group_.size(), t_.seed, t_.seed_workers};
    const bool shuffle = (model.data.shuffle || shard.distributed) && !overfitting(t_);
    train_loader_ =
        std::make_unique<DataLoader>(train_data_, model.data.batch_size, shuffle, model.data.drop_last, shard);
    const int prefetch = model.data.prefetch_factor > 0 ? model.data.prefetch_factor : 2;  // torch's default
    train_loader_->set_workers(model.data.num_workers, model.data.persistent_workers, prefetch);
    num_train_batches_ = t_.limit_train_batches.of(train_loader_->num_batches());
    // Under overfit_batches too the validation reads the val data (its first overfit_batches batches),
    // as Lightning 2's does (1.x validated on the training batches).
    if (config.val.kind != DataSourceKind::none)
      val_loader_ = std::make_unique<DataLoader>(val_data_, model.data.batch_size, false, false, shard);
    if (val_loader_) val_loader_->set_workers(model.data.num_workers, model.data.persistent_workers, prefetch);
    if (val_loader_) num_val_batches_ = t_.limit_val_batches.of(val_loader_->num_batches());
    // Lightning's val_check_batch.
    if (!t_.val_check_interval.is_fraction) {
      val_check_batch_ = t_.val_check_interval.count;
      if (val_check_batch_ > num_train_batches_ && t_.check_val_every_n_epoch != -1 && num_val_batches_ > 0)
        throw Error("`val_check_interval` (" + std::to_string(val_check_batch_) +
                    ") must be less than or equal to the number of the training batches (" +
                    std::to_string(num_train_batches_) +
                    "); set trainer.check_val_every_n_epoch to null to validate across epochs");
    } else {
      val_check_batch_ = std::max<std::int64_t>(
          1, static_cast<std::int64_t>(static_cast<double>(num_train_batches_) * t_.val_check_interval.fraction));
    }
    if (t_.scheduler) {
      // A scheduler per parameter group: torch's schedulers treat each group on its own (list-valued
      // arguments give each group its entry).
      const std::vector<ParamGroupDef> groups = param_groups_of(model);
      const int n = static_cast<int>(groups.size());
      for (int g = 0; g < n; ++g)
        schedulers_.push_back(LrScheduler::create(group_scheduler_spec(*t_.scheduler, g, n),
                                                  groups[static_cast<std::size_t>(g)].lr,
                                                  optimizer_momentum(model.optimizer)));
      follow_scheduler();
    }
    const json::Value spec_callbacks = callbacks_spec(config);
    callbacks_ = Callbacks::read(spec_callbacks, checkpointing_of_callbacks(config, spec_callbacks), t_.enable_progress_bar);
    if (const WeightAveraging* wa = callbacks_.weight_averaging()) check_averaging(*wa);
    if (const StochasticWeightAveraging* swa = callbacks_.stochastic_weight_averaging()) check_averaging(*swa);
    if (const std::string refused = backbone_finetuning_refusal(callbacks_, model_.backbone_group,
                                                                t_.scheduler.has_value(), group_.distributed());
        !refused.empty())
      throw Error("trainer.callbacks: " + refused);
    if (const std::string refused = device_stats_refusal(callbacks_, backend_->device() != "cpu"); !refused.empty())
      throw Error("trainer.callbacks: " + refused);
    if (model.data.persistent_workers)
      if (const std::string refused = persistent_workers_refusal(t_.reload_dataloaders_every_n_epochs);
          !refused.empty())
        throw Error("trainer.reload_dataloaders_every_n_epochs: " + refused);
    if (model_.optimizer.kind == OptimizerKind::lbfgs) {
      if (const LbfgsRefusal refused = lbfgs_refusal(t_, callbacks_, backend_->device() != "cpu");
          !refused.message.empty())
        throw Error("trainer." + refused.key + ": " + refused.message);
    }
    if (t_.enable_model_summary && callbacks_.model_summary())  // _configure_model_summary_callback
      std::fputs("Trainer already configured with model summary callbacks: [<class "
                 "'lightning.pytorch.callbacks.model_summary.ModelSummary'>]. Skipping setting a default "
                 "`ModelSummary` callback.\n",
                 group_.rank_zero(stderr));
    max_epochs_ = resolve_max_epochs(t_.max_epochs, t_.max_steps);
    train_rows_.reserve(static_cast<std::size_t>(num_train_batches_ / t_.log_every_n_steps + 2));
  }

  FitResult run();
  // What of a WeightAveraging callback only the program can check (where the steps run), and what
  // ltgen checks in the spec, for a command line's --trainer.callbacks; before fit starts.
  void check_averaging(const WeightAveraging& wa) const;
  void check_averaging(const StochasticWeightAveraging& swa) const;
  void fill_scheduler_context();
  void read_optimizer_groups();

  // LTRT_USER_HOOK's bracket: the Trainer a hook sees is refreshed before it, read back after it.
  void begin_hook(const char* name);
  void end_hook();

 private:
  FitResult run_loops();
  [[noreturn]] void fail(const std::exception& e);
  std::string callbacks_on_exception(const std::exception& e, CallbackRange range);
  std::string finalize_logs();
  Trainer::Access hook_access();
  void step_forward_backward(int n, bool first_of_group, bool step);
  void lbfgs_step(int n);
  void sync_buffers(bool training_forward_syncs);
  bool validation_enabled() const { return val_loader_ && num_val_batches_ > 0; }
  bool can_stop_early() const {
    const bool epochs = t_.min_epochs == -1 || epochs_processed_ >= t_.min_epochs;
    const bool steps = t_.min_steps == -1 || global_step_ >= t_.min_steps;
    return epochs && steps;
  }
  bool max_steps_reached() const { return t_.max_steps != -1 && global_step_ >= t_.max_steps; }
  // FitLoop.done, with the reason `Trainer.fit` stopped.
  bool fit_done(std::string& reason) const {
    if (num_train_batches_ == 0) reason = "No training batches.";
    else if (max_steps_reached()) reason = "`max_steps=" + std::to_string(t_.max_steps) + "` reached.";
    else if (max_epochs_ != -1 && epochs_processed_ >= max_epochs_)
      reason = "`max_epochs=" + std::to_string(max_epochs_) + "` reached.";
    else if (should_stop_ && can_stop_early()) reason = "`trainer.should_stop` was set.";
    else return false;
    return true;
  }
  void init_context();
  CallbackContext& context();
  void save_checkpoint(const std::string& path, bool weights_only);
  // Resuming, in Lightning's two parts with on_fit_start between them: the weights and the
  // callbacks' state (on_load_checkpoint), then the optimizer, schedulers, scaler and loops.
  TrainState restore_modules_and_callbacks(const std::string& path);
  void restore_training_state(const TrainState& s, const std::string& path);
  void restore_persistent_workers(const json::Value& loops, const std::string& path);
  void flush_train_rows();
  void take_callback_logs();
  void run_validation(bool sanity);
  void train_batch(std::int64_t b);
  void fetch_step_metrics();
  Metrics train_epoch_metrics();
  void advance_end(std::int64_t b);
  void advance_end_after_validation(std::int64_t b);
  bool should_check_val(std::int64_t b) const;
  bool val_interval_ends(std::int64_t epoch, std::int64_t b) const;  // val_check_interval's batches
  bool should_accumulate(std::int64_t b) const {
    return (b + 1) % t_.accumulate_grad_batches != 0 && b + 1 != num_train_batches_;
  }
  void step_schedulers(const char* interval, bool plateau);
  void follow_scheduler();
  void find_lr(LearningRateFinder& finder);
  void warn_if_no_optimizer_step();
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  using Clock = std::chrono::steady_clock;
  const ModelDef& model_;
  const FitConfig& config_;
  TrainerConfig t_;
  const ProcessGroup& group_;  // DDP's ranks (one process without DDP)
  std::FILE* out_;             // stdout on rank 0
  Rngs rngs_;
  Arena arena_;  // the host arena: batches are loaded and checkpoints read and written here
  Optimizer optimizer_;
  std::unique_ptr<Backend> backend_;  // where the steps run: this arena, or a GPU's copy of it
  Dataset train_data_, val_data_;
  std::unique_ptr<DataLoader> train_loader_, val_loader_;
  std::int64_t num_train_batches_ = 0, num_val_batches_ = 0, val_check_batch_ = 1;
  std::vector<std::unique_ptr<LrScheduler>> schedulers_;  // one per parameter group, or none
  // torch's LRScheduler.step warns when its first step comes before any optimizer.step(): under
  // 16-mixed, when the GradScaler skipped every step so far. Checked once, at the first step.
  bool scheduler_stepped_ = false;
  Callbacks callbacks_;
  std::unique_ptr<Loggers> loggers_;
  std::vector<StepRow> train_rows_;
  Metrics lr_logs_;
  std::int64_t val_batches_total_ = 0;  // the epoch's validation batches (not the sanity check's)
  std::map<std::string, double> callback_metrics_;
  std::map<std::string, double> logged_metrics_;  // trainer.logged_metrics, kept for user hooks only
  CallbackContext ctx_;
  Clock::time_point start_ = Clock::now();

  std::int64_t max_epochs_ = -1;
  std::int64_t epoch_ = 0;             // trainer.current_epoch
  std::int64_t epochs_processed_ = 0;  // epoch_progress.current.processed
  std::int64_t global_step_ = 0;
  std::int64_t batches_that_stepped_ = 0;
  std::int64_t batch_in_epoch_ = 0;    // batches completed in the current epoch
  bool advance_end_pending_ = false;   // a mid-epoch checkpoint's batch still has its validation to run
  // A checkpoint saved during a batch's validation (ModelCheckpoint's on_validation_end): the rest of
  // that batch's on_advance_end (the step count loggers use) is still to run.
  bool in_advance_end_validation_ = false;
  bool advance_end_tail_pending_ = false;
  bool in_batch_end_ = false;          // inside on_train_batch_end (where every_n_train_steps saves)
  // StochasticWeightAveraging's BatchNorm epoch: forward passes alone (Lightning's _skip_backward).
  bool skip_backward_ = false;
  std::int64_t accumulate_before_batch_norm_epoch_ = 1;
  // Whether torch's .grad would be None: before the first backward, and after a validation outside
  // an accumulation group (on_validation_model_zero_grad) until the next backward.
  bool gradients_released_ = true;
  // Lightning's epoch_progress.current: ready (the epoch is open, from its on_train_epoch_start on)
  // and started (that hook is done), until processed catches up at the epoch's end.
  bool epoch_open_ = false;
  bool epoch_started_ = false;
  // FitLoop.restarting after a resume: the checkpoint's epoch was unfinished, or max_steps is set.
  // Lightning then skips the sanity check, and in the resumed epoch a started epoch's
  // on_train_epoch_start and, at its end, the epoch-interval ReduceLROnPlateau step.
  bool restarting_ = false;
  bool resumed_open_epoch_ = false;
  // The checkpoint resumed from was saved inside an epoch that had drawn its seeds (it says so: older
  // checkpoints do not, nor hold the generator before them).
  bool resumed_drawn_epoch_ = false;
  bool resumed_started_epoch_ = false;
  std::string epoch_start_rng_data_;   // data generator before this epoch's shuffle (mid-epoch resume)
  // What a training step's dropout draws from (ltrt/dropout_draws.hpp).
  DropoutDraws dropout_draws() {
    return {torch_global_->generator(), rngs_.dropout, config_.counter_dropout_masks};
  }
  // torch's global generator as the loaders (one process: the training order) and the CPU steps'
  // dropout draw from it, and as it was before this epoch's iterator (mid-epoch resume).
  std::optional<TorchGlobalDraws> torch_global_;
  TorchGenerator epoch_start_torch_{0};
  bool train_iterator_made_ = false;  // the next epoch's iterator exists (made by LearningRateFinder)
  // That iterator's _base_seed, and with workers the seed its sampler drew (shuffled, one process).
  std::int64_t made_base_seed_ = 0;
  std::optional<std::int64_t> made_order_seed_;
  // persistent_workers: the epoch whose iterator the training loader keeps (-1: none made yet), and
  // whether the validation loader keeps one (the sanity check's or the first validation's).
  std::int64_t persistent_train_epoch_ = -1;
  bool persistent_val_made_ = false;
  bool failing_ = false;  // an exception is ending the fit: its checkpoints take no collective
  bool should_stop_ = false;
  bool sanity_checking_ = false;
  bool val_has_run_ = false;
  std::int64_t validations_ = 0;
  std::int64_t steps_this_run_ = 0;
  float last_loss_ = 0;
  double last_metric_[kMaxMetrics] = {};  // model.metrics' values
  // What self.log made of them: with sync_dist under DDP their average over the ranks.
  float logged_loss_ = 0;
  double logged_metric_[kMaxMetrics] = {};
  // model.log.on_epoch: the step values' names (Lightning forks "train_loss" into
  // "train_loss_step" and "train_loss_epoch"), and this epoch's sums of value x batch size.
  const std::string step_suffix_ = model_.log_on_epoch ? "_step" : "";
  const std::string step_loss_name_ = "train_loss" + step_suffix_;
  std::vector<std::string> step_metric_names_ = step_metric_names();  // train_acc(_step), ...
  std::vector<std::string> step_metric_names() const {
    std::vector<std::string> names;
    for (int k = 0; k < model_.num_metrics; ++k)
      names.push_back("train_" + metric_name(model_, k) + step_suffix_);
    return names;
  }
  EvalSums train_epoch_sums_;
  MetricStates train_epoch_states_;  // model.log.on_epoch: the Metric objects' states
  bool has_loss_ = false;
  // The last training step's loss and accuracy are read from the backend when something needs
  // them (fetch_step_metrics): a GPU step is still running when train() returns.
  bool step_metrics_pending_ = false;
  int step_rows_ = 0;
  Trainer trainer_;                    // what user hooks see (ltrt/hooks.hpp)
  const char* running_hook_ = nullptr; // the user hook running now: named when it throws
  // trainer.profiler's SimpleProfiler (null without one), made with the Trainer as Lightning's is.
  std::unique_ptr<SimpleProfiler> profiler_;
  std::string validation_step_action_;  // the profiler's "[Strategy]<strategy>.validation_step"
  bool in_save_hook_ = false;          // inside on_save_checkpoint (saving from there would recurse)
  bool buffers_due_ = true;            // DDP: the next forward takes rank 0's buffers first
};

void Fit::check_averaging(const WeightAveraging& wa) const {
  const WeightAveraging::Options& o = wa.options();
  const std::string where = backend_->device();  // "cpu", or "cuda:0 (NVIDIA H200)"
  const bool on_gpu = where != "cpu";
  if (!o.device.empty()) {
    const bool same = on_gpu ? o.device == "cuda" || where.compare(0, o.device.size() + 1, o.device + " ") == 0
                             : o.device == "cpu";
    if (!same)
      throw Error("trainer.callbacks: " + std::string(wa.class_name()) + "'s device \"" + o.device +
                  "\" is not where the steps run (" + where + "): an averaged model elsewhere is not supported yet; "
                  "leave device out");
  }
  if (!o.ema && on_gpu && o.rule.use_buffers)
    for (int k = 0; k < model_.num_state; ++k)
      if (model_.state[k].value.dtype == DType::i64)
        throw Error(std::string("trainer.callbacks: WeightAveraging with use_buffers (the default) averages the "
                                "int64 buffer ") + model_.state[k].value.name + " too, and torch's running mean on "
                    "the GPU fails there (_foreach_addcdiv_ on integers: 'Integer division with addcdiv is no longer "
                    "supported'): set \"use_buffers\": false in its init_args (BatchNorm's statistics are then "
                    "copied from the model), or trainer.accelerator \"cpu\"");
  if (o.ema && o.rule.use_buffers && model_.num_loss_buffers > 0)
    throw Error(std::string("trainer.callbacks: EMAWeightAveraging with use_buffers (the default) averages the "
                            "loss's buffer ") + model_.loss_buffers[0].name + " too, which ltgen does not reproduce "
                "yet: set \"use_buffers\": false in its init_args");
}

// What ltgen also refuses when it reads the spec; here for a command line's --trainer.callbacks.
void Fit::check_averaging(const StochasticWeightAveraging& swa) const {
  if (model_.num_state > 0 && (!model_.set_batch_norm_momentum_none || !model_.training_forward))
    throw Error("trainer.callbacks: StochasticWeightAveraging over BatchNorm needs a program generated with it in "
                "the spec's trainer.callbacks (its BatchNorm epoch runs forward passes alone with momentum=None): "
                "add it to the spec and run ltgen again");
  if (model_.num_state > 0 && backend_->grad_scaler())
    throw Error("trainer.callbacks: StochasticWeightAveraging over BatchNorm under \"16-mixed\" on the GPU is not "
                "supported yet (the BatchNorm epoch's optimizer step would unscale the last backward's gradients a "
                "second time, or fail in torch's GradScaler after a validation): \"bf16-mixed\" or \"32-true\"");
  const std::size_t groups = param_groups_of(model_).size();
  if (swa.options().lrs_per_group && swa.options().swa_lrs.size() != groups)
    throw Error("trainer.callbacks: StochasticWeightAveraging's swa_lrs has " +
                std::to_string(swa.options().swa_lrs.size()) + " values for the optimizer's " + std::to_string(groups) +
                " parameter group" + (groups == 1 ? "" : "s") + ": give one per group, or one number for all");
}

// The callback context's view of the LR scheduler config, as it is now.
void Fit::fill_scheduler_context() {
  CallbackContext& c = ctx_;
  c.has_scheduler = !schedulers_.empty();
  c.scheduler_type = schedulers_.empty() ? "" : schedulers_[0]->type();
  c.scheduler_interval = t_.scheduler_interval;
  c.scheduler_frequency = t_.scheduler_frequency;
  c.scheduler_name = t_.scheduler_name;
}

Trainer::Access Fit::hook_access() {
  Trainer::Access a;
  a.model = &model_;
  a.arena = arena_.data();
  a.optimizer = &optimizer_;
  a.spec_lr = param_groups_of(model_)[0].lr;  // param_groups[0]["lr"]
  a.self = this;
  a.save = [](void* self, const std::string& path) {
    Fit& fit = *static_cast<Fit*>(self);
    if (fit.in_save_hook_) throw Error("trainer.save_checkpoint called from on_save_checkpoint: it would recurse");
    fit.save_checkpoint(path, false);
  };
  // The backend trains on its own copy (a GPU's): hooks read the host arena once it is current.
  a.fetch = [](void* self, int param, bool gradient) {
    static_cast<Fit*>(self)->backend_->fetch_for_hooks(param, gradient);
  };
  return a;
}

// The profiler's name of a user hook: Lightning's "[LightningModule]<class>.<hook>", the class
// --emit lightning writes.
std::string hook_action(const char* name) { return std::string("[LightningModule]Model.") + name; }

void Fit::begin_hook(const char* name) {
  if (profiler_) profiler_->start(hook_action(name));
  running_hook_ = name;
  trainer_.current_epoch = epoch_;
  trainer_.global_step = global_step_;
  trainer_.sanity_checking = sanity_checking_;
  trainer_.should_stop = should_stop_;
}

void Fit::end_hook() {
  should_stop_ = trainer_.should_stop;
  if (profiler_) profiler_->stop(hook_action(running_hook_));
  running_hook_ = nullptr;
}

// What stays the same through a fit: set once, so that the per-batch context()
// only copies the counters.
void Fit::init_context() {
  CallbackContext& c = ctx_;
  c.log_every_n_steps = t_.log_every_n_steps;
  c.has_val_loop = validation_enabled();
  c.check_val_every_n_epoch = t_.check_val_every_n_epoch == -1 ? 0 : t_.check_val_every_n_epoch;
  c.val_check_interval = t_.val_check_interval.is_fraction ? t_.val_check_interval.fraction
                                                           : static_cast<double>(t_.val_check_interval.count);
  c.callback_metrics = &callback_metrics_;
  c.fetch_metrics = [this] { fetch_step_metrics(); };
  c.should_stop = &should_stop_;
  c.backend = backend_.get();
  c.accumulate_grad_batches = &t_.accumulate_grad_batches;  // read by every batch after the epoch's start
  c.log_dir = loggers_->dir();
  c.default_root_dir = t_.default_root_dir;
  c.has_logger = loggers_->enabled();
  c.ckpt_path = config_.ckpt_path;
  c.save_checkpoint = [this](const std::string& path, bool weights_only) { save_checkpoint(path, weights_only); };
  c.optimizer_name = optimizer_name(model_.optimizer.kind);
  c.optimizer = &optimizer_;
  c.optimizer_changed = [this] { read_optimizer_groups(); };
  c.param_groups = param_groups_of(model_);
  fill_scheduler_context();
  c.set_schedulers = [this](std::vector<std::unique_ptr<LrScheduler>> schedulers) {
    schedulers_ = std::move(schedulers);
    // LRSchedulerConfig's defaults
    t_.scheduler_interval = "epoch";
    t_.scheduler_frequency = 1;
    t_.scheduler_monitor.clear();
    t_.scheduler_name.clear();
    t_.scheduler_strict = true;
    follow_scheduler();
    fill_scheduler_context();
    ctx_.lrs = optimizer_.lrs();
  };
  // trainer.max_epochs as Lightning's _parse_loop_limits leaves it: unset, 1000 unless max_steps or a
  // Timer (max_time) bounds the fit, then -1.
  const bool timer = std::any_of(callbacks_.list().begin(), callbacks_.list().end(),
                                 [](const auto& cb) { return dynamic_cast<const Timer*>(cb.get()) != nullptr; });
  c.max_epochs = t_.max_epochs != -1 ? t_.max_epochs : t_.max_steps == -1 && !timer ? 1000 : -1;
  c.has_batch_norm = model_.num_state > 0;
  c.extend_max_epochs = [this](std::int64_t epochs) {
    if (max_epochs_ == -1) return;
    max_epochs_ += epochs;
    ctx_.max_epochs += epochs;  // trainer.max_epochs reads the fit loop's
  };
  c.swa_batch_norm_epoch = [this](CallbackContext::BatchNormEpoch stage) {
    switch (stage) {
      case CallbackContext::BatchNormEpoch::start:
        // reset_batch_norm_and_save_state: the running statistics and count as they were made
        init_state(model_, arena_.data());
        backend_->upload_state();
        backend_->set_batch_norm_momentum_none(true);
        skip_backward_ = true;
        // fit_loop.max_batches += 1; trainer.accumulate_grad_batches = fit_loop.max_batches
        accumulate_before_batch_norm_epoch_ = t_.accumulate_grad_batches;
        t_.accumulate_grad_batches = num_train_batches_ + 1;
        break;
      case CallbackContext::BatchNormEpoch::end_epoch:
        skip_backward_ = false;
        break;
      case CallbackContext::BatchNormEpoch::end_fit:
        t_.accumulate_grad_batches = accumulate_before_batch_norm_epoch_;
        backend_->set_batch_norm_momentum_none(false);  // reset_momenta
        break;
    }
  };
  c.log = &lr_logs_;
  c.log_metrics = [this](const Metrics& metrics, std::optional<std::int64_t> step) {
    if (!loggers_->enabled() || metrics.empty()) return;
    // Rows wait with the steps' (train_rows_), in the order they were logged.
    StepRow row{epoch_, step.value_or(batches_that_stepped_), 0.0f, {}, metrics};
    row.logged_epoch = !step;  // log_metrics without a step adds the epoch column
    train_rows_.push_back(std::move(row));
    if constexpr (user_hooks::any)
      for (const auto& [k, v] : metrics) logged_metrics_[k] = v;
  };
  c.clock = [this] { return elapsed(); };
  c.synchronize = [this] { backend_->synchronize(); };
  if (group_.distributed()) {
    c.reduce_boolean = [this](bool value, bool all) { return group_.reduce_boolean(value, all); };
    c.broadcast = [this](bool value) { return group_.broadcast(value); };
    c.is_global_zero = group_.is_global_zero();
    c.global_rank = group_.rank();
    c.world_size = group_.size();
    if (!c.is_global_zero) {  // rank_zero_only: messages, and the files rank 0 keeps
      c.info = c.warn = [](const std::string&) {};
      c.remove_checkpoint = [](const std::string&) {};
    }
  }
}

CallbackContext& Fit::context() {
  CallbackContext& c = ctx_;
  c.current_epoch = epoch_;
  c.global_step = global_step_;
  c.batches_that_stepped = batches_that_stepped_;
  c.sanity_checking = sanity_checking_;
  c.val_loop_has_run = val_has_run_;
  c.is_last_batch = batch_in_epoch_ == num_train_batches_;
  c.elapsed_seconds = elapsed();
  read_optimizer_groups();
  return c;
}

// The context's view of optimizer.param_groups as they are now.
void Fit::read_optimizer_groups() {
  CallbackContext& c = ctx_;
  c.lrs = optimizer_.lrs();
  c.momentums = optimizer_.momentums();  // SGD's or RMSprop's momentum or the Adam family's beta1, as a scheduler left it
  if (model_.backbone_group) {  // BackboneFinetuning's group joins at its epoch
    const auto active = static_cast<std::size_t>(optimizer_.num_active_groups());
    c.lrs.resize(active);
    c.momentums.resize(active);
    if (c.param_groups.size() != active) {
      c.param_groups = param_groups_of(model_);
      c.param_groups.resize(active);
    }
  }
}

void Fit::save_checkpoint(const std::string& path, bool weights_only) {
  const ProfileScope profile(profiler_.get(), "save_checkpoint");
  // Lightning's dump_checkpoint calls on_save_checkpoint before the state is taken.
  TrainState s;
  if constexpr (user_hooks::on_save_checkpoint) {
    in_save_hook_ = true;
    trainer_.checkpoint.clear();
    LTRT_USER_HOOK(*this, on_save_checkpoint, (trainer_))
    s.user = std::exchange(trainer_.checkpoint, {});  // the hook's entries, saved with the checkpoint
    in_save_hook_ = false;
  }
  s.epoch = epoch_;
  s.global_step = global_step_;
  s.weights_only = weights_only;
  s.vocabulary = train_data_.vocab;  // a text source's tokens, saved with the weights
  // First: under "16-mixed" this settles whether the last step was skipped, and with it the count.
  s.grad_scaler = backend_->grad_scaler();
  s.optimizer_step = optimizer_.step_count();
  s.group_states = optimizer_.group_states();
  if (model_.optimizer.kind == OptimizerKind::lbfgs) s.lbfgs = optimizer_.lbfgs_state();
  for (int g = 0; g < optimizer_.num_groups(); ++g) s.lrs.push_back(optimizer_.lr(g));
  s.backbone_added_at = optimizer_.backbone_added_at();
  s.rng_data = rngs_.data.state();
  s.rng_dropout = rngs_.dropout.state();
  json::Value loops = json::Value::make_object();
  loops.set("batches_that_stepped", json::Value::make_integer(batches_that_stepped_));
  loops.set("batch_in_epoch", json::Value::make_integer(batch_in_epoch_));
  loops.set("epochs_processed", json::Value::make_integer(epochs_processed_));
  // Saved inside a batch's on_train_batch_end, its validation check is still to come.
  loops.set("advance_end_pending", json::Value::make_bool(in_batch_end_));
  loops.set("advance_end_tail_pending", json::Value::make_bool(in_advance_end_validation_));
  loops.set("epoch_start_rng_data", json::Value::make_string(epoch_start_rng_data_));
  loops.set("torch_generator", json::Value::make_string(torch_global_->generator().state()));
  loops.set("epoch_start_torch_generator", json::Value::make_string(epoch_start_torch_.state()));
  // v1's RandomChoice and RandomOrder draw from Python's random in a process without workers.
  if (train_loader_->transforms_draw_python())
    loops.set("python_random", json::Value::make_string(train_loader_->python_random().state()));
  // Persistent workers go on drawing in the next epochs: their generators, and the epoch that made
  // them, as a list of the ranks' lists. The ranks' workers are alike (the same base seed, as many
  // rows a batch, draws that do not depend on the values) but under seed_everything(workers=True),
  // which seeds them apart: then every rank's, gathered (a collective, so not while the fit fails,
  // when some ranks may not be here: such a checkpoint holds rank 0's alone, and resuming from it
  // on several ranks is refused).
  if (train_loader_->persistent_workers()) {
    json::Value workers = json::Value::make_array();
    if (persistent_train_epoch_ >= 0)
      for (const std::string& state : train_loader_->worker_states()) workers.push(json::Value::make_string(state));
    json::Value ranks = json::Value::make_array();
    if (t_.seed_workers && group_.distributed() && !failing_) {
      for (const std::string& text : group_.gather(json::write(workers))) ranks.push(json::parse(text));
    } else {
      ranks.push(std::move(workers));
    }
    loops.set("persistent_workers_epoch", json::Value::make_integer(persistent_train_epoch_));
    loops.set("persistent_workers", std::move(ranks));
    loops.set("persistent_val_iterator", json::Value::make_bool(persistent_val_made_));
  }
  loops.set("epoch_unfinished", json::Value::make_bool(epoch_open_));
  loops.set("epoch_started", json::Value::make_bool(epoch_started_));
  s.loops = loops;
  // One group: the scheduler's state; several: a list of the groups' states.
  if (schedulers_.size() == 1) {
    s.lr_schedulers = schedulers_[0]->state();
  } else if (schedulers_.empty()) {
    s.lr_schedulers = json::Value::make_null();
  } else {
    s.lr_schedulers = json::Value::make_array();
    for (const auto& scheduler : schedulers_) s.lr_schedulers.push(scheduler->state());
  }
  s.callbacks = callbacks_.state();
  // Under DDP rank 0 writes it (the replicas are equal); the others took part in the hook above.
  if (!group_.is_global_zero()) return;
  // A bare file name (trainer.save_checkpoint("final.safetensors")) is saved in the working directory.
  if (fs::path(path).has_parent_path()) make_dirs(fs::path(path).parent_path().string());
  backend_->download();
  // WeightAveraging.on_save_checkpoint (not for weights-only files): the averaged model is the
  // state_dict, the model's own values current_model_state.
  if (const WeightAveraging* wa = callbacks_.weight_averaging(); wa && wa->active() && !weights_only) {
    s.averaging = AveragingState{std::vector<std::byte>(model_state_bytes(model_)), wa->n_averaged()};
    backend_->average_read(s.averaging->values.data());
  }
  // StochasticWeightAveraging.state_dict's average_model_state.
  if (const StochasticWeightAveraging* swa = callbacks_.stochastic_weight_averaging();
      swa && swa->active() && !weights_only) {
    s.averaging = AveragingState{std::vector<std::byte>(model_state_bytes(model_)), 0, true};
    backend_->average_read(s.averaging->values.data());
  }
  ltrt::save_checkpoint(path, model_, arena_.data(), s);
}

std::int64_t loop_integer(const json::Value& loops, const char* key, const std::string& path) {
  if (loops.kind != json::Kind::object) throw Error(path + ": not a checkpoint to resume from (no loop state)");
  const json::Value* v = loops.find(key);
  if (!v || !v->is_integer || v->integer < 0)
    throw Error(path + ": __metadata__ 'loops' has no non-negative integer '" + key + "'");
  return v->integer;
}

TrainState Fit::restore_modules_and_callbacks(const std::string& path) {
  TrainState s = load_checkpoint(path, model_, arena_.data());
  // Token ids mean bytes of the vocabulary: another corpus's ids would train a different model.
  if (!s.vocabulary.empty() && s.vocabulary != train_data_.vocab)
    throw Error(path + ": the checkpoint's text vocabulary (" + std::to_string(s.vocabulary.size()) +
                " tokens) is not the training corpus's (" + std::to_string(train_data_.vocab.size()) + " tokens, from " +
                config_.train.text_path + "): resume with the corpus it was trained on");
  backend_->upload();
  // Lightning restores the model, then calls the Callbacks' on_load_checkpoint (the user's hooks are
  // one more Callback), then restores loops and optimizers (_restore_modules_and_callbacks before
  // restore_training_state): the hook sees the new weights and the counters as they were.
  // WeightAveraging's comes first: its averaged model takes the state_dict, and the model its own
  // values from current_model_state when the checkpoint has them.
  if (WeightAveraging* wa = callbacks_.weight_averaging()) {
    const bool current = s.averaging && !s.averaging->stochastic;  // current_model_state.* beside state_dict.*
    wa->on_load_checkpoint(context(), current ? std::optional<std::int64_t>(s.averaging->n_averaged) : std::nullopt);
    if (current && wa->active()) {
      scatter_model_state(model_, s.averaging->values.data(), arena_.data());
      backend_->upload();
    }
  }
  trainer_.checkpoint = s.user;  // what on_save_checkpoint saved
  LTRT_USER_HOOK(*this, on_load_checkpoint, (trainer_))
  trainer_.checkpoint.clear();
  const std::string unmatched = callbacks_.unmatched_state_warning(s.callbacks);
  if (!unmatched.empty()) std::fprintf(group_.rank_zero(stderr), "warning: %s\n", unmatched.c_str());
  callbacks_.load_state(s.callbacks);
  // StochasticWeightAveraging.load_state_dict: its averaged model from average_model_state (the
  // backend copies the arena's: the model's own values step aside meanwhile).
  if (StochasticWeightAveraging* swa = callbacks_.stochastic_weight_averaging();
      swa && swa->active() && s.averaging && s.averaging->stochastic) {
    std::vector<std::byte> own(model_state_bytes(model_));
    gather_model_state(model_, arena_.data(), own.data());
    scatter_model_state(model_, s.averaging->values.data(), arena_.data());
    backend_->upload();
    backend_->average_reset(StochasticWeightAveraging::kRule);
    scatter_model_state(model_, own.data(), arena_.data());
    backend_->upload();
  }
  return s;
}

// persistent_workers: the generators of the workers the training loader keeps, the epoch that made
// them, and whether the validation loader has its iterator. A checkpoint without them (another
// program's) leaves the first epoch after it to make the iterator.
void Fit::restore_persistent_workers(const json::Value& loops, const std::string& path) {
  const json::Value* epoch = loops.find("persistent_workers_epoch");
  const json::Value* workers = loops.find("persistent_workers");
  const json::Value* val = loops.find("persistent_val_iterator");
  if (!epoch && !workers && !val) return;
  const auto fail = [&](const std::string& what) {
    throw Error(path + ": __metadata__ 'loops' 'persistent_workers': " + what);
  };
  if (!epoch || !epoch->is_integer || epoch->integer < -1 || !workers || !workers->is_array() || !val ||
      !val->is_bool())
    fail("incomplete (it needs persistent_workers_epoch, persistent_workers and persistent_val_iterator)");
  // A list of each rank's workers' states, or one list that is every rank's.
  const std::size_t lists = workers->items.size();
  const bool apart = t_.seed_workers && group_.distributed();
  if (lists == 0 || (lists > 1 && lists != static_cast<std::size_t>(group_.size())) || (lists == 1 && apart))
    fail("holds the workers of " + std::to_string(lists) + " ranks, this fit runs " + std::to_string(group_.size()) +
         (apart ? " whose workers seed_everything(workers=True) seeds apart (a checkpoint saved as a fit failed "
                  "holds rank 0's alone)"
                : ""));
  const json::Value& mine = workers->items[lists == 1 ? 0 : static_cast<std::size_t>(group_.rank())];
  if (!mine.is_array()) fail("a rank's workers are not a list");
  std::vector<std::string> states;
  for (const json::Value& state : mine.items) {
    if (!state.is_string()) fail("a worker's generator state is not a string");
    states.push_back(state.str);
  }
  persistent_train_epoch_ = epoch->integer;
  persistent_val_made_ = val->b;
  if (persistent_train_epoch_ < 0) return;
  try {
    train_loader_->set_worker_states(states);
  } catch (const Error& e) {
    fail(e.what());
  }
}

void Fit::restore_training_state(const TrainState& s, const std::string& path) {
  optimizer_.set_step_count(s.optimizer_step);
  optimizer_.set_group_states(s.group_states);
  if (s.lbfgs) optimizer_.set_lbfgs_state(*s.lbfgs);
  optimizer_.set_backbone_added_at(s.backbone_added_at);
  if (s.grad_scaler) backend_->restore_grad_scaler(*s.grad_scaler);  // Lightning's MixedPrecision.load_state_dict
  rngs_.data.set_state(s.rng_data);
  rngs_.dropout.set_state(s.rng_dropout);
  global_step_ = s.global_step;
  epoch_ = s.epoch;
  batches_that_stepped_ = loop_integer(s.loops, "batches_that_stepped", path);
  epochs_processed_ = loop_integer(s.loops, "epochs_processed", path);
  batch_in_epoch_ = loop_integer(s.loops, "batch_in_epoch", path);
  const json::Value* pending = s.loops.find("advance_end_pending");
  const json::Value* rng = s.loops.find("epoch_start_rng_data");
  if (!pending || pending->kind != json::Kind::boolean || !rng || rng->kind != json::Kind::string)
    throw Error(path + ": __metadata__ 'loops' is incomplete");
  advance_end_pending_ = pending->b;
  // Absent from checkpoints of earlier ltgen versions: those resumed without it.
  const json::Value* tail = s.loops.find("advance_end_tail_pending");
  advance_end_tail_pending_ = tail != nullptr && tail->kind == json::Kind::boolean && tail->b;
  epoch_start_rng_data_ = rng->str;
  // Absent from checkpoints of earlier ltgen versions (whose order and dropout were ltgen's own).
  const json::Value* torch_now = s.loops.find("torch_generator");
  const json::Value* torch_epoch_start = s.loops.find("epoch_start_torch_generator");
  if (torch_now || torch_epoch_start) {
    if (!torch_now || torch_now->kind != json::Kind::string || !torch_epoch_start ||
        torch_epoch_start->kind != json::Kind::string)
      throw Error(path + ": __metadata__ 'loops' has an incomplete torch generator state");
    try {
      torch_global_->generator().set_state(torch_now->str);
      epoch_start_torch_.set_state(torch_epoch_start->str);
    } catch (const Error& e) {
      throw Error(path + ": __metadata__ 'loops': " + e.what());
    }
  }
  if (train_loader_->transforms_draw_python()) {
    const json::Value* python = s.loops.find("python_random");
    if (!python || python->kind != json::Kind::string)
      throw Error(path +
                  ": __metadata__ 'loops' has no 'python_random', the state of Python's random that this "
                  "program's RandomChoice or RandomOrder draws from: was it written by another program?");
    try {
      train_loader_->python_random().set_state(python->str);
    } catch (const Error& e) {
      throw Error(path + ": __metadata__ 'loops': " + e.what());
    }
  }
  if (train_loader_->persistent_workers()) restore_persistent_workers(s.loops, path);
  // Checkpoints of earlier ltgen versions lack the epoch's progress: an epoch not yet processed
  // was unfinished, and started unless nothing of it had run.
  const bool ended = epochs_processed_ > epoch_;
  const json::Value* unfinished = s.loops.find("epoch_unfinished");
  const json::Value* started = s.loops.find("epoch_started");
  resumed_open_epoch_ = unfinished && unfinished->kind == json::Kind::boolean ? unfinished->b : !ended;
  resumed_drawn_epoch_ = unfinished && unfinished->kind == json::Kind::boolean && unfinished->b && torch_epoch_start;
  resumed_started_epoch_ = started && started->kind == json::Kind::boolean
                               ? started->b
                               : resumed_open_epoch_ && (batch_in_epoch_ > 0 || advance_end_pending_);
  restarting_ = resumed_open_epoch_ || t_.max_steps != -1;  // FitLoop.restarting's setter
  // Until the loop takes the epoch up again, a checkpoint (on_train_start's) says what this one said.
  epoch_open_ = resumed_open_epoch_;
  epoch_started_ = resumed_started_epoch_;
  if (ended) {
    // Saved at the end of an epoch: training goes on with the next one.
    epoch_ = epochs_processed_;
    batch_in_epoch_ = 0;
    advance_end_pending_ = false;
    advance_end_tail_pending_ = false;
  }
  if (!schedulers_.empty()) {
    if (s.lr_schedulers.kind == json::Kind::null)
      throw Error(path + ": the checkpoint has no LR scheduler state but the spec has an lr_scheduler");
    if (schedulers_.size() == 1) {
      schedulers_[0]->load_state(s.lr_schedulers);
    } else {
      if (!s.lr_schedulers.is_array() || s.lr_schedulers.items.size() != schedulers_.size())
        throw Error(path + ": the checkpoint's LR scheduler state is not a list of " +
                    std::to_string(schedulers_.size()) + " (one per parameter group)");
      for (std::size_t g = 0; g < schedulers_.size(); ++g) schedulers_[g]->load_state(s.lr_schedulers.items[g]);
    }
    follow_scheduler();
  }
  // torch's optimizer.load_state_dict restores each group's lr as it was saved, a hook's too; the
  // schedulers' states do not touch it.
  if (!s.lrs.empty()) {
    for (int g = 0; g < optimizer_.num_groups(); ++g) optimizer_.set_lr(g, s.lrs[static_cast<std::size_t>(g)]);
  }
}

// What callbacks logged in a hook, at the step it was logged at.
void Fit::take_callback_logs() {
  if (lr_logs_.empty()) return;
  if (loggers_->enabled()) {
    train_rows_.push_back({0, batches_that_stepped_, 0.0f, {}, lr_logs_});
    if constexpr (user_hooks::any)
      for (const auto& [k, v] : lr_logs_) logged_metrics_[k] = v;
  }
  lr_logs_.clear();
}

void Fit::flush_train_rows() {
  take_callback_logs();
  for (const StepRow& r : train_rows_) {
    if (!r.logged.empty()) {
      loggers_->log(r.logged, r.step, r.logged_epoch ? std::optional<std::int64_t>(r.epoch) : std::nullopt);
      continue;
    }
    Metrics m = {{step_loss_name_, static_cast<double>(r.loss)}};
    for (int k = 0; k < model_.num_metrics; ++k) m.push_back({step_metric_names_[k], r.metric[k]});
    loggers_->log(m, r.step, r.epoch);
  }
  train_rows_.clear();  // keeps the capacity
}

// The validation loop (sanity check or real), Lightning's _EvaluationLoop:
// val_loss (and val_acc, ...) averaged over batches weighted by batch size, logged
// once at the end with step = _batches_that_stepped.
void Fit::run_validation(bool sanity) {
  fetch_step_metrics();  // before evaluation overwrites the step's outputs
  sanity_checking_ = sanity;
  // Trainer._run_sanity_check: its hooks bracket the validation loop, with trainer.sanity_checking set.
  if (sanity) {
    LTRT_USER_HOOK(*this, on_sanity_check_start, (trainer_))
  }
  LTRT_CALLBACKS_AND_HOOK(on_validation_start, (trainer_))
  LTRT_CALLBACKS_AND_HOOK(on_validation_epoch_start, (trainer_))
  const std::int64_t batches = sanity ? (t_.num_sanity_val_steps == -1 ? num_val_batches_
                                                                        : std::min(t_.num_sanity_val_steps, num_val_batches_))
                                      : num_val_batches_;
  val_loader_->start_epoch(rngs_.data);  // no shuffle: the order is fixed and no number is drawn
  // Its DataLoader iterator's _base_seed; the sanity check's leaves no trace (Lightning runs it under
  // isolate_rng). Persistent workers keep the first iterator, which later validations reset.
  if (!sanity && !(val_loader_->persistent_workers() && persistent_val_made_)) torch_global_->draw();
  persistent_val_made_ = true;
  for (std::int64_t b = 0; b < batches; ++b) {
    ctx_.eval_batches_ready = b + 1;  // (batch_progress.increment_ready comes before the start hooks)
    ctx_.eval_batches_total = val_batches_total_ + (sanity ? 0 : 1);
    LTRT_CALLBACKS_AND_HOOK(on_validation_batch_start, (trainer_, b))
    int n = 0;
    {
      const ProfileScope profile(profiler_.get(), "[_EvaluationLoop].val_next");
      n = val_loader_->load_batch(b, arena_.data(), model_.input, model_.target);
    }
    sync_buffers(false);
    {
      const ProfileScope profile(profiler_.get(), validation_step_action_.c_str());
      backend_->evaluate(n);
    }
    if (!sanity) ++val_batches_total_;
    ctx_.batch_rows = n;
    ctx_.eval_batches_ready = b + 1;
    ctx_.eval_batches_total = val_batches_total_;
    LTRT_CALLBACKS_AND_HOOK(on_validation_batch_end, (trainer_, b, backend_->eval_loss()))
  }
  // The batches' weighted sums, read once (on a GPU they are summed on the device).
  const EvalSums sums = backend_->take_eval_sums();
  MetricStates states = backend_->take_eval_states();  // Metric objects reset after the sanity check too
  Metrics m;
  if (sanity) {
    warn_unless_synced(model_, sums, group_, "val");  // Lightning computes (and discards) them too
  } else {
    m = epoch_metrics(model_, sums, std::move(states), group_, "val");  // in Lightning's order
    for (const auto& [k, v] : m) callback_metrics_[k] = v;
  }
  // _EvaluationLoop.on_run_end: the epoch-end hooks see the epoch's metrics, then they are logged.
  LTRT_CALLBACKS_AND_HOOK(on_validation_epoch_end, (trainer_))
  if (!m.empty()) {
    flush_train_rows();
    loggers_->log(m, batches_that_stepped_, epoch_);
    if constexpr (user_hooks::any) {
      if (loggers_->enabled()) {
        for (const auto& [k, v] : m) logged_metrics_[k] = v;
        logged_metrics_["epoch"] = static_cast<double>(epoch_);
      }
    }
    ++validations_;
    val_has_run_ = true;
  }
  LTRT_CALLBACKS_AND_HOOK(on_validation_end, (trainer_))
  if (sanity) {
    LTRT_USER_HOOK(*this, on_sanity_check_end, (trainer_))
  }
  sanity_checking_ = false;
}

bool Fit::should_check_val(std::int64_t b) const {
  if (!validation_enabled()) return false;
  if (t_.check_val_every_n_epoch != -1 && (epoch_ + 1) % t_.check_val_every_n_epoch != 0) return false;
  if (should_stop_ && can_stop_early()) return true;
  return val_interval_ends(epoch_, b);
}

bool Fit::val_interval_ends(std::int64_t epoch, std::int64_t b) const {
  // With check_val_every_n_epoch=None the interval counts batches across epochs.
  const std::int64_t iteration = t_.check_val_every_n_epoch == -1 ? epoch * num_train_batches_ + b : b;
  return (iteration + 1) % val_check_batch_ == 0;
}

// Lightning's _update_learning_rates: `frequency` counts batches of the
// epoch (interval "step") or epochs; plateau schedulers step on the monitor.
void Fit::step_schedulers(const char* interval, bool plateau) {
  if (schedulers_.empty() || schedulers_[0]->needs_metric() != plateau || t_.scheduler_interval != interval) return;
  const std::int64_t idx = (std::string(interval) == "step" ? batch_in_epoch_ - 1 : epoch_) + 1;
  if (idx % t_.scheduler_frequency != 0) return;
  std::optional<double> metric;
  if (plateau) {
    fetch_step_metrics();
    auto it = callback_metrics_.find(t_.scheduler_monitor);
    if (it == callback_metrics_.end()) {
      if (!t_.scheduler_strict) return;
      std::string available;
      for (const auto& [k, v] : callback_metrics_) available += (available.empty() ? "" : ", ") + k;
      throw Error("ReduceLROnPlateau conditioned on metric " + t_.scheduler_monitor +
                  " which is not available. Available metrics are: [" + available + "]");
    }
    metric = it->second;
  }
  if (!scheduler_stepped_) {
    scheduler_stepped_ = true;
    warn_if_no_optimizer_step();
  }
  // torch's schedulers step from group["lr"] as it is now: a hook may have set it (Trainer::set_lr).
  for (std::size_t g = 0; g < schedulers_.size(); ++g) {
    schedulers_[g]->take_lr(optimizer_.lr(static_cast<int>(g)));
    schedulers_[g]->step(metric);
  }
  follow_scheduler();
}

// The first scheduler step of a fit that started from scratch, after steps the GradScaler skipped
// ("16-mixed": optimizer.step() was never called): torch's LRScheduler.step warning. Its
// ReduceLROnPlateau, SequentialLR and ChainedScheduler do not make that check in their own step.
void Fit::warn_if_no_optimizer_step() {
  const std::string type = schedulers_[0]->type();
  if (global_step_ != steps_this_run_ || type == "ReduceLROnPlateau" || type == "SequentialLR" ||
      type == "ChainedScheduler")
    return;
  if (!backend_->grad_scaler() || optimizer_.step_count() != 0) return;  // settles the last step's verdict
  std::fprintf(group_.rank_zero(stderr),
               "UserWarning: Detected call of `lr_scheduler.step()` before `optimizer.step()`. In PyTorch 1.1.0 and "
               "later, you should call them in the opposite order: `optimizer.step()` before `lr_scheduler.step()`.  "
               "Failure to do this will result in PyTorch skipping the first value of the learning rate schedule. See "
               "more details at https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate\n");
}

// torch's schedulers write the optimizer's param_groups: the lr, and the momentum or beta1 that
// OneCycleLR cycles.
void Fit::follow_scheduler() {
  for (std::size_t g = 0; g < schedulers_.size(); ++g) {
    const int group = static_cast<int>(g);
    optimizer_.set_lr(group, schedulers_[g]->lr());
    if (const std::optional<double> momentum = schedulers_[g]->momentum()) optimizer_.set_momentum(group, *momentum);
  }
}

// LearningRateFinder's range test (Lightning's _lr_find): the state saved; every parameter group's lr
// set by the finder's schedule before each step, up to num_training_steps optimizer steps over as
// many epochs as they take (Lightning's fit loop runs them with the trainer's callbacks and loggers
// swapped for the finder's recorder: none of them runs, nothing is logged; its validations change
// nothing the search reads and are left out, but for the draws of their DataLoader iterators, which
// order a shuffled search's later epochs), stopping after a step whose smoothed loss diverged;
// then the state restored (weights, optimizer, schedulers, random streams: Lightning restores its
// checkpoint inside isolate_rng) and, with update_attr, every group's lr set to the suggestion.
void Fit::find_lr(LearningRateFinder& finder) {
  if (t_.fast_dev_run > 0) {
    std::fputs("UserWarning: Skipping learning rate finder since `fast_dev_run` is enabled.\n", group_.rank_zero(stderr));
    return;
  }
  const auto refuse = [](const std::string& what) {
    throw Error("LearningRateFinder " + what + " is not supported yet (see README, 'Not supported yet')");
  };
  if (group_.distributed()) refuse("under DDP");
  if (!config_.ckpt_path.empty()) refuse("when fit resumes from a checkpoint (--ckpt_path)");
  for (const auto& cb : callbacks_.list())
    if (std::string(cb->class_name()) == "GradientAccumulationScheduler") refuse("with a GradientAccumulationScheduler");
  if (t_.min_epochs != -1 || t_.min_steps != -1) refuse("with min_epochs or min_steps");
  if (t_.reload_dataloaders_every_n_epochs > 0) refuse("with reload_dataloaders_every_n_epochs");

  // The state to come back to.
  backend_->download();
  const std::vector<std::byte> arena(arena_.data(), arena_.data() + model_.arena_bytes);
  const std::int64_t step_count = optimizer_.step_count();
  const std::vector<float> group_states = optimizer_.group_states();
  const std::vector<double> lrs = optimizer_.lrs(), momentums = optimizer_.momentums();
  std::vector<json::Value> scheduler_states;
  for (const auto& scheduler : schedulers_) scheduler_states.push_back(scheduler->state());
  const std::string rng_data = rngs_.data.state(), rng_dropout = rngs_.dropout.state();
  const TorchGenerator torch_before = torch_global_->generator();
  const PythonRandom python_before = train_loader_->python_random();
  const std::optional<GradScaler> scaler = backend_->grad_scaler();

  const LearningRateFinder::Options& o = finder.options();
  finder.start();
  std::int64_t steps = 0;
  bool diverged = false;
  // With persistent workers the search's first iterators are all its epochs' and validations' (then
  // its restore makes the loaders anew).
  const bool persistent = train_loader_->persistent_workers();
  bool search_val_made = false;
  for (std::int64_t epoch = epochs_processed_;
       !diverged && steps < o.num_training_steps && (max_epochs_ == -1 || epoch < max_epochs_) && num_train_batches_ > 0;
       ++epoch) {
    // Each search epoch's DataLoader iterator draws from torch's generator as the fit's do, and seeds
    // its workers (with workers the sampler draws as the iterator is made, without them at its first
    // batch: the same place in the stream).
    if (!persistent || epoch == epochs_processed_) train_loader_->start_workers(torch_global_->draw());
    if (train_loader_->shuffle()) train_loader_->start_epoch_from_seed(torch_global_->draw());
    const std::int64_t k = t_.accumulate_grad_batches;
    std::int64_t b = 0;
    for (; b < num_train_batches_ && steps < o.num_training_steps && !diverged; ++b) {
      optimizer_.set_lr(finder.lr_before_step(steps));  // every group's, as the finder's scheduler sets them
      // _LRCallback records the batches whose (batch_idx + 1) is a multiple of accumulate_grad_batches
      // only: an epoch's last, partial group steps the optimizer (and the schedule) unrecorded.
      const bool recorded = (b + 1) % k == 0;
      if (recorded) finder.note_lr(optimizer_.lr());
      const int n =
          train_loader_->load_batch(b, arena_.data(), model_.input, model_.target, &torch_global_->generator());
      const bool step = !should_accumulate(b);
      const TrainStep request{n, 1.0f / static_cast<float>(k), b % k != 0, step, t_.gradient_clip_val,
                              t_.gradient_clip_algorithm == "value", step, optimizer_.num_active_groups()};
      float loss;
      if constexpr (user_hooks::in_step) {  // the hooks' split step, without them (they are a Callback)
        loss = backend_->train_forward(request, dropout_draws());
        backend_->train_backward(request);
        if (step) {
          backend_->unscale_gradients();
          backend_->step_optimizer(t_.gradient_clip_val, t_.gradient_clip_algorithm == "value", optimizer_);
        }
      } else {
        backend_->train(request, optimizer_, dropout_draws());
        loss = backend_->loss();
      }
      if (step) ++steps;
      // outputs["loss"], the closure's (divided by accumulate_grad_batches); trainer.global_step after the step.
      if (recorded) diverged = finder.record(loss / static_cast<float>(k), global_step_ + steps);
      // Lightning's search validates where the fit would (with limit_val_batches num_training_steps),
      // its last step too, and at once where the loss diverges (_LRCallback's should_stop): each
      // validation's iterator draws one int64, which moves a later search epoch's order and the fit's
      // first iterator's seeds.
      const bool validates = validation_enabled() &&
                             (t_.check_val_every_n_epoch == -1 || (epoch + 1) % t_.check_val_every_n_epoch == 0) &&
                             (diverged || val_interval_ends(epoch, b));
      if (validates) {
        if (!(persistent && search_val_made)) torch_global_->draw();
        search_val_made = true;
      }
    }
    train_loader_->draw_prefetched(b);  // (persistent workers: the batches they were sent past the last)
  }
  std::FILE* err = group_.rank_zero(stderr);
  if (steps != o.num_training_steps)
    std::fprintf(err, "LR finder stopped early after %lld steps due to diverging loss.\n", static_cast<long long>(steps));

  std::memcpy(arena_.data(), arena.data(), arena.size());
  backend_->upload();
  optimizer_.set_step_count(step_count);
  optimizer_.set_group_states(group_states);
  for (std::size_t g = 0; g < schedulers_.size(); ++g) schedulers_[g]->load_state(scheduler_states[g]);
  for (int g = 0; g < optimizer_.num_groups(); ++g) {
    optimizer_.set_lr(g, lrs[static_cast<std::size_t>(g)]);
    optimizer_.set_momentum(g, momentums[static_cast<std::size_t>(g)]);
  }
  rngs_.data.set_state(rng_data);
  rngs_.dropout.set_state(rng_dropout);
  // Its restore sets the fit loop's data up again, which makes the first epoch's iterator there,
  // inside isolate_rng, from the generator as the search left it: its _base_seed seeds the first
  // epoch's workers, and with workers its shuffled sampler draws its seed there too (without them
  // when the epoch starts, from the restored generator).
  made_base_seed_ = torch_global_->draw();
  if (model_.data.num_workers > 0 && train_loader_->shuffle()) made_order_seed_ = torch_global_->draw();
  train_iterator_made_ = true;
  torch_global_->generator() = torch_before;  // the search ran under isolate_rng (Python's random too)
  train_loader_->python_random() = python_before;
  if (scaler) backend_->restore_grad_scaler(*scaler);

  const std::optional<double> lr = finder.suggestion();
  if (!lr) {
    std::fputs("Failed to compute suggestion for learning rate because there are not enough points. Increase the loop "
               "iteration limits or the size of your dataset/dataloader.\n", err);
    return;
  }
  std::fprintf(out_, "LearningRateFinder: %lld steps from %s to %s; suggested lr %s\n", static_cast<long long>(steps),
               python_repr(finder.lrs().front()).c_str(), python_repr(finder.lrs().back()).c_str(),
               python_repr(*lr).c_str());
  if (!o.update_attr) return;
  optimizer_.set_lr(*lr);  // every group's (the schedulers step from it: take_lr)
  std::fprintf(err, "Learning rate set to %s\n", python_repr(*lr).c_str());
}

// Forward, loss and backward of one batch (Lightning's closure: training_step, zero_grad on the first
// batch of an accumulation group, backward of the loss divided by accumulate_grad_batches), for user
// hooks inside the step: on the backend in pieces, with the hooks between them. train_batch steps
// the optimizer.
void Fit::step_forward_backward(int n, bool first_of_group, bool step) {
  const TrainStep request{n,    1.0f / static_cast<float>(t_.accumulate_grad_batches), !first_of_group, false, 0, false,
                          step, optimizer_.num_active_groups()};
  if constexpr (user_hooks::split_step) {
    last_loss_ = backend_->train_forward(request, dropout_draws());
    // training_step has logged: the hooks from here on see this step's train_loss (and train_acc) in
    // callback_metrics, as Lightning's results give them when read.
    step_metrics_pending_ = true;
    step_rows_ = n;
    fetch_step_metrics();
    // Gradients are written over (not added to) by the group's first backward: that is the zero_grad.
    if (first_of_group) LTRT_USER_HOOK(*this, on_before_zero_grad, (trainer_))
    // Under "16-mixed" (a GPU's GradScaler), MixedPrecision.pre_backward scales the loss before the
    // hook sees it: on_before_backward gets what backward starts from, and on_after_backward's
    // gradients are scaled too.
    float backward_loss = last_loss_ / static_cast<float>(t_.accumulate_grad_batches);  // the closure's loss
    if (const std::optional<GradScaler> scaler = backend_->grad_scaler()) backward_loss *= scaler->scale;
    LTRT_USER_HOOK(*this, on_before_backward, (trainer_, backward_loss))
    backend_->train_backward(request);
    LTRT_USER_HOOK(*this, on_after_backward, (trainer_))
  } else {
    backend_->train(request, optimizer_, dropout_draws());  // forward and backward: no optimizer step
    step_metrics_pending_ = true;
    step_rows_ = n;
    fetch_step_metrics();  // for on_before_optimizer_step, as above
  }
}

// LBFGS's optimizer.step(closure) on the host arena. Each evaluation is Lightning's closure as its
// precision plugin wraps it: training_step (whose logged values each enter the epoch's means; the
// step's are the last evaluation's), zero_grad, backward, then _after_closure's
// on_before_optimizer_step and clipping. On a GPU each evaluation runs there, between copies of the
// parameters up and of the gradients down (clipped on the host, as the CPU program clips).
void Fit::lbfgs_step(int n) {
  const bool clip = t_.gradient_clip_val > 0;
  backend_->parameters_to_host();
  optimizer_.step_lbfgs([&] {
    backend_->parameters_from_host();
    step_forward_backward(n, /*first_of_group=*/true, /*step=*/true);
    LTRT_USER_HOOK(*this, on_before_optimizer_step, (trainer_))
    backend_->gradients_to_host();
    if (clip)
      clip_gradients(grad_region(model_, arena_.data()), optimizer_.active_elements(), t_.gradient_clip_val,
                     t_.gradient_clip_algorithm == "value");
    return last_loss_;
  });
  backend_->parameters_from_host();  // the step's last move
}

// DistributedDataParallel's buffer sync (broadcast_buffers): before a forward, every rank takes rank
// 0's buffers (BatchNorm's running statistics) when the forward before it was a training one whose
// backward synchronised the gradients, or none has run yet. Accumulating batches (no_sync) and
// evaluation forwards leave the next forward unsynchronised.
void Fit::sync_buffers(bool training_forward_syncs) {
  if (group_.distributed() && buffers_due_) backend_->broadcast_buffers();
  buffers_due_ = training_forward_syncs;
}

// One batch up to its step logging (TrainingEpochLoop.advance).
void Fit::train_batch(std::int64_t b) {
  LTRT_CALLBACKS_AND_HOOK(on_train_batch_start, (trainer_, b))
  take_callback_logs();
  int n = 0;
  {
    const ProfileScope profile(profiler_.get(), "[_TrainingEpochLoop].train_dataloader_next");
    n = train_loader_->load_batch(b, arena_.data(), model_.input, model_.target, &torch_global_->generator());
  }
  // torchmetrics' r2_score raises inside training_step, before its backward.
  if (n < 2) refuse_r2_single_row(metrics_shape(model_), n);
  // Lightning's run_training_batch: the optimization, from training_step to the optimizer's step.
  if (profiler_) profiler_->start("run_training_batch");
  const std::int64_t k = t_.accumulate_grad_batches;
  const bool first_of_group = b % k == 0;
  const bool step = !should_accumulate(b);
  if (skip_backward_) {
    // StochasticWeightAveraging's BatchNorm epoch: training_step's forward (BatchNorm's statistics
    // averaged anew), no zero_grad and no backward.
    sync_buffers(step);
    const TrainStep request{n, 1.0f / static_cast<float>(k), true, false, 0, false, false, optimizer_.num_active_groups()};
    last_loss_ = backend_->train_forward(request, dropout_draws());
    step_metrics_pending_ = true;
    step_rows_ = n;
  } else if (model_.optimizer.kind == OptimizerKind::lbfgs) {
    // optimizer.step(closure): LBFGS evaluates the closure as often as its iterations and line search
    // need (no accumulation: lbfgs_refusal).
    sync_buffers(step);
    lbfgs_step(n);
    gradients_released_ = false;
  } else if constexpr (user_hooks::in_step) {
    // Hooks inside the step: it runs in pieces with the hooks between them (and has put its
    // metrics in callback_metrics).
    sync_buffers(step);
    step_forward_backward(n, first_of_group, step);
    gradients_released_ = false;
  } else {
    // Lightning divides the loss by accumulate_grad_batches before backward; the last batch of a
    // group clips the gradients and steps the optimizer.
    const TrainStep request{n, 1.0f / static_cast<float>(k), !first_of_group, step, t_.gradient_clip_val,
                            t_.gradient_clip_algorithm == "value", step, optimizer_.num_active_groups()};
    sync_buffers(step);
    backend_->train(request, optimizer_, dropout_draws());
    step_metrics_pending_ = true;  // read when something needs them
    step_rows_ = n;
    gradients_released_ = false;
  }
  // The first step's values enter callback_metrics at once (later steps replace them in place,
  // without allocating), as Lightning's first log adds them.
  // With sync_dist under DDP every step's are read at once, on every rank: averaging them is a
  // collective, which the lazy readers (rank 0's progress bar) cannot start. With on_epoch every
  // step's enter the epoch's sums.
  if (!has_loss_ || (model_.sync_dist && group_.distributed()) || model_.log_on_epoch) fetch_step_metrics();
  has_loss_ = true;
  batch_in_epoch_ = b + 1;
  train_loader_->commit_workers();  // (a checkpoint from here on holds this batch's draws)
  if (step) {
    if (skip_backward_) {
      // The closure ran without backward: the optimizer steps on the gradients the last backward
      // left, after clipping them again; none when a validation has released them since (torch
      // skips parameters whose .grad is None).
      LTRT_USER_HOOK(*this, on_before_optimizer_step, (trainer_))
      if (!gradients_released_)
        backend_->step_optimizer(t_.gradient_clip_val, t_.gradient_clip_algorithm == "value", optimizer_);
    } else if (model_.optimizer.kind == OptimizerKind::lbfgs) {
      // (stepped in lbfgs_step)
    } else if constexpr (user_hooks::in_step) {
      // The optimizer's closure has run; the GradScaler unscales (16-mixed), then Lightning's
      // _after_closure: on_before_optimizer_step, then clipping.
      backend_->unscale_gradients();
      LTRT_USER_HOOK(*this, on_before_optimizer_step, (trainer_))
      backend_->step_optimizer(t_.gradient_clip_val, t_.gradient_clip_algorithm == "value", optimizer_);
    }
    ++global_step_;
    ++steps_this_run_;
  }
  if (profiler_) profiler_->stop("run_training_batch");
  // User hooks may read trainer.callback_metrics anywhere from here on.
  if constexpr (user_hooks::any) fetch_step_metrics();
  if (step) step_schedulers("step", false);
  if (step && b + 1 == num_train_batches_) step_schedulers("epoch", false);
  in_batch_end_ = true;
  // outputs["loss"] in Lightning is the closure's loss: divided by accumulate_grad_batches.
  ctx_.batch_idx = b;
  ctx_.batch_rows = n;
  ctx_.accumulating = !step;
  ctx_.batch_loss = [this, k] {
    fetch_step_metrics();
    return last_loss_ / static_cast<float>(k);
  };
  LTRT_CALLBACKS_AND_HOOK(on_train_batch_end, (trainer_, b, last_loss_ / static_cast<float>(k)))
  ctx_.batch_loss = nullptr;
  in_batch_end_ = false;
  // LoggerConnector.update_train_step_metrics: nothing while accumulating; then should_update_logs,
  // before _batches_that_stepped moves on.
  if (step && ((batches_that_stepped_ + 1) % t_.log_every_n_steps == 0 || should_stop_)) {
    if (loggers_->enabled()) {
      fetch_step_metrics();
      StepRow& row = train_rows_.emplace_back(StepRow{epoch_, batches_that_stepped_, logged_loss_, {}, {}});
      std::copy(logged_metric_, logged_metric_ + kMaxMetrics, row.metric);
      if constexpr (user_hooks::any) {
        logged_metrics_[step_loss_name_] = logged_loss_;
        for (int k = 0; k < model_.num_metrics; ++k)
          logged_metrics_[step_metric_names_[k]] = static_cast<float>(logged_metric_[k]);
        logged_metrics_["epoch"] = static_cast<double>(epoch_);
      }
    }
  }
}

// The last step's train_loss (and train_acc, ...) into callback_metrics, read from the backend the
// first time something needs them: the progress bar when it redraws, a log row, a callback or
// scheduler that reads callback_metrics, validation (it overwrites the outputs), the end of fit;
// with sync_dist under DDP, right after the step on every rank (train_batch).
void Fit::fetch_step_metrics() {
  if (!step_metrics_pending_) return;
  step_metrics_pending_ = false;
  if constexpr (!user_hooks::split_step) last_loss_ = backend_->loss();  // split: train_forward returned it
  if (model_.num_metrics > 0) {
    backend_->outputs(step_rows_);
    batch_metrics(model_, arena_.data(), step_rows_, last_metric_);
    for (int k = 0; k < model_.num_metrics; ++k)  // logged as float32 tensors, as Lightning's
      last_metric_[k] = static_cast<float>(last_metric_[k]);
  }
  logged_loss_ = last_loss_;
  std::copy(last_metric_, last_metric_ + kMaxMetrics, logged_metric_);
  if (model_.sync_dist && group_.distributed()) {  // Lightning syncs an on_step value as it is logged
    float values[kMaxMetrics + 1] = {last_loss_};  // float32 tensors, as Lightning's
    for (int k = 0; k < model_.num_metrics; ++k) values[1 + k] = static_cast<float>(last_metric_[k]);
    group_.mean(values, 1 + model_.num_metrics);
    logged_loss_ = values[0];
    // A Metric object's step value stays this rank's own: Lightning logs its _forward_cache unsynced.
    for (int k = 0; k < model_.num_metrics; ++k)
      if (!model_.metrics[k].module) logged_metric_[k] = values[1 + k];
  }
  callback_metrics_["train_loss"] = logged_loss_;
  for (int k = 0; k < model_.num_metrics; ++k)
    callback_metrics_["train_" + metric_name(model_, k)] = static_cast<float>(logged_metric_[k]);
  if (model_.log_on_epoch) {
    callback_metrics_[step_loss_name_] = logged_loss_;
    for (int k = 0; k < model_.num_metrics; ++k)
      callback_metrics_[step_metric_names_[k]] = static_cast<float>(logged_metric_[k]);
    // _ResultMetric.update: this rank's value x batch size, before any averaging, summed in
    // float32 as its tensor is.
    const float rows = static_cast<float>(step_rows_);
    const MetricsShape shape = metrics_shape(model_);  // the Metric objects' states too
    train_epoch_sums_.loss = static_cast<float>(train_epoch_sums_.loss) + last_loss_ * rows;
    for (int k = 0; k < model_.num_metrics; ++k)
      train_epoch_sums_.metric[k] = static_cast<float>(train_epoch_sums_.metric[k]) +
                                    static_cast<float>(shape.summed_value(k, last_metric_[k])) * rows;
    train_epoch_sums_.rows += step_rows_;
    const auto* out = reinterpret_cast<const float*>(arena_.data() + model_.metric_output.offset);
    train_epoch_states_.add(shape, out, arena_.data() + model_.target.offset, step_rows_);
  }
}

// model.log.on_epoch at an epoch's end: the epoch's train_loss_epoch (and train_acc_epoch, ...), also
// callback_metrics' train_loss from now on; with sync_dist averaged over the ranks. Every rank.
Metrics Fit::train_epoch_metrics() {
  Metrics logged;
  if (!model_.log_on_epoch) return logged;
  fetch_step_metrics();
  for (const auto& [name, value] : epoch_metrics(model_, std::exchange(train_epoch_sums_, EvalSums{}),
                                                 std::exchange(train_epoch_states_, MetricStates{}), group_, "train")) {
    callback_metrics_[name] = value;
    callback_metrics_[name + "_epoch"] = value;
    logged.push_back({name + "_epoch", value});
  }
  return logged;
}

// TrainingEpochLoop.on_advance_end: validation when due, plateau schedulers on
// "step", then the step count that loggers use.
void Fit::advance_end(std::int64_t b) {
  if (should_check_val(b)) {
    // Lightning's on_validation_model_zero_grad, outside an accumulation group: the gradients are
    // released before validating. Only hooks (which read them as zeros) and SWA's BatchNorm epoch
    // (whose one step then changes nothing) can tell: the next group's first backward writes over them.
    if (!should_accumulate(b)) gradients_released_ = true;
    if constexpr (user_hooks::any)
      if (!should_accumulate(b)) backend_->zero_gradients();
    in_advance_end_validation_ = true;
    run_validation(false);
    in_advance_end_validation_ = false;
  }
  advance_end_after_validation(b);
}

void Fit::advance_end_after_validation(std::int64_t b) {
  if (!should_accumulate(b)) {
    step_schedulers("step", true);
    ++batches_that_stepped_;
  }
  if (should_stop_) flush_train_rows();
}

// Lightning's _call_and_handle_interrupt: an exception anywhere in fit runs on_exception and ends fit
// with it. Checkpoints already written stay as they are (they are written atomically).
FitResult Fit::run() {
  try {
    return run_loops();
  } catch (const std::exception& e) {
    failing_ = true;
    if constexpr (user_hooks::any) fail(e);
    std::string failed = callbacks_on_exception(e, CallbackRange::all);  // ModelCheckpoint(save_on_exception)
    failed += finalize_logs();
    if (!failed.empty()) throw_like(e, e.what() + failed);
    throw;
  } catch (...) {
    failing_ = true;
    if constexpr (user_hooks::any) fail(Error("an exception that is not a std::exception"));
    throw;
  }
}

// The callbacks' on_exception (only ModelCheckpoint's does anything: save_on_exception). A failure to
// save is added to the message, as an on_exception hook's is, rather than replacing the exception.
// Lightning's _interrupt ends with every logger's finalize("failed"): the rows logged so far are
// written. Returns what went wrong doing so, for the message ("" when nothing did).
std::string Fit::finalize_logs() {
  if (!loggers_) return "";
  try {
    flush_train_rows();
    loggers_->save();
  } catch (const std::exception& again) {
    return "; then saving the logs failed: " + std::string(again.what());
  }
  return "";
}

std::string Fit::callbacks_on_exception(const std::exception& e, CallbackRange range) {
  if (!ctx_.save_checkpoint) return "";  // fit failed before its callbacks were set up
  try {
    callbacks_.on_exception(context(), e, range);
  } catch (const std::exception& again) {
    return "; then saving a checkpoint on the exception failed: " + std::string(again.what());
  }
  return "";
}

// on_exception, then one message: which hook threw, and the checkpoint that a rerun can resume from.
void Fit::fail(const std::exception& e) {
  std::string message = running_hook_ ? std::string("hook ") + running_hook_ + " threw: " + e.what() : e.what();
  // Lightning calls on_exception on every callback in order: the user's hooks are one more callback
  // before the ModelCheckpoints.
  message += callbacks_on_exception(e, CallbackRange::before_checkpoints);
  try {
    LTRT_USER_HOOK(*this, on_exception, (trainer_, e))
  } catch (const std::exception& again) {  // e.g. reading a GPU's weights after a CUDA error: keep both
    message += "; then on_exception threw: " + std::string(again.what());
  }
  message += callbacks_on_exception(e, CallbackRange::checkpoints);
  message += finalize_logs();
  if (const ModelCheckpoint* mc = callbacks_.checkpoint_callback()) {
    const std::string& last = mc->last_model_path.empty() ? mc->best_model_path : mc->last_model_path;
    if (!last.empty()) message += " (the last checkpoint, " + last + ", is intact)";
  }
  throw_like(e, message);
}

FitResult Fit::run_loops() {
  FitResult result;
  loggers_ = std::make_unique<Loggers>(t_, model_, group_);
  init_context();
  // ModelSummary.on_fit_start: the spec's ModelSummary (even with enable_model_summary false), else
  // the default one; under fast_dev_run too, after its line.
  const ModelSummary* summary = callbacks_.model_summary();
  const bool print_summary = summary ? summary->max_depth() != 0 : t_.enable_model_summary;
  if (t_.fast_dev_run > 0)
    std::fprintf(out_, "Running in `fast_dev_run` mode: will run the requested loop using %lld batch(es). "
                       "Logging and checkpointing is suppressed.\n", static_cast<long long>(t_.fast_dev_run));
  // Lightning's _run: the setup hooks, then the checkpoint's modules and callbacks (on_load_checkpoint),
  // then on_fit_start (ModelSummary's prints the table).
  callbacks_.setup(context());
  LTRT_USER_HOOK(*this, setup, (trainer_, std::string("fit")))
  std::optional<TrainState> resumed;
  if (!config_.ckpt_path.empty())
    group_.agree_on_failure([&] { resumed = restore_modules_and_callbacks(config_.ckpt_path); });
  // LearningRateFinder.on_fit_start comes first: Lightning's _reorder_callbacks puts the tuner
  // callbacks ahead of the others (ModelSummary's prints the table), and the module's hook follows them.
  if (LearningRateFinder* finder = callbacks_.learning_rate_finder()) find_lr(*finder);
  if (print_summary) std::fputs(model_summary(model_).c_str(), out_);
  LTRT_CALLBACKS_AND_HOOK(on_fit_start, (trainer_))
  if (resumed) group_.agree_on_failure([&] { restore_training_state(*resumed, config_.ckpt_path); });
  // Not when restarting: "it would mess up the loaded state" (Trainer._run_sanity_check).
  if (validation_enabled() && t_.num_sanity_val_steps != 0 && !restarting_) run_validation(true);
  // FitLoop.skip: with nothing to train (no batches, a limit already reached, e.g. resuming a finished
  // run) the loop returns before on_train_start, so neither it nor on_train_end runs.
  const bool skip = fit_done(result.stop_reason);
  if (!skip) {
    LTRT_CALLBACKS_AND_HOOK(on_train_start, (trainer_))
  }

  const TQDMProgressBar* bar_callback = callbacks_.progress_bar();
  ProgressBar bar(out_, ProgressBar::detect(out_, t_.enable_progress_bar),
                  bar_callback ? bar_callback->options() : TQDMProgressBar::Options{});
  while (!skip && !fit_done(result.stop_reason)) {
    if (should_stop_)
      std::fprintf(out_, "Trainer was signaled to stop but the required `min_epochs=%lld` or `min_steps=%lld` has not "
                         "been met. Training will continue...\n",
                   static_cast<long long>(t_.min_epochs), static_cast<long long>(t_.min_steps));

    // A mid-epoch resume replays this epoch's shuffle, then skips the batches done; so does one from
    // a checkpoint saved once the epoch had drawn, before its first batch (in on_train_epoch_start).
    const bool resuming_mid_epoch = batch_in_epoch_ > 0 || resumed_drawn_epoch_;
    resumed_drawn_epoch_ = false;
    // The epoch's DataLoader iterator draws its _base_seed from torch's global generator, then (one
    // process, shuffled) its RandomSampler the seed of the epoch's torch.randperm; a mid-epoch
    // resume draws them again from the epoch's start and goes on from the checkpoint's state.
    const TorchGenerator saved = torch_global_->generator();
    if (resuming_mid_epoch) torch_global_->generator() = epoch_start_torch_;
    epoch_start_torch_ = torch_global_->generator();
    // reload_dataloaders_every_n_epochs: at every n-th epoch FitLoop.setup_data makes the train
    // DataLoader again and an iterator of it (one more _base_seed) before the epoch loop makes the
    // one it reads (the data are the spec's, the same each time).
    const std::int64_t reload = t_.reload_dataloaders_every_n_epochs;
    // With workers an iterator starts them as it is made, which runs its sampler: a single process's
    // shuffled RandomSampler draws its seed then, so the discarded iterator draws that too.
    if (reload > 0 && epoch_ > 0 && epoch_ % reload == 0) {
      torch_global_->draw();
      if (model_.data.num_workers > 0 && train_loader_->shuffle() && !t_.sharded()) torch_global_->draw();
    }
    // Its _base_seed seeds its workers (under LearningRateFinder the finder made the iterator, inside
    // its isolated generator: find_lr drew its seeds).
    // Persistent workers: the first epoch's iterator is every epoch's, and its workers go on where
    // they were (a resumed fit restored them, so a replayed first epoch draws its _base_seed only).
    const bool persistent = train_loader_->persistent_workers();
    const bool new_iterator = !persistent || persistent_train_epoch_ < 0 || persistent_train_epoch_ == epoch_;
    const bool finder_made = train_iterator_made_;
    const std::int64_t base_seed = finder_made ? made_base_seed_ : !new_iterator ? 0 : torch_global_->draw();
    train_iterator_made_ = false;
    if (!persistent || persistent_train_epoch_ < 0) {
      train_loader_->start_workers(base_seed, resuming_mid_epoch ? batch_in_epoch_ : 0);
      if (persistent) persistent_train_epoch_ = epoch_;
    }
    if (t_.sharded()) {
      if (resuming_mid_epoch) rngs_.data.set_state(epoch_start_rng_data_);
      epoch_start_rng_data_ = rngs_.data.state();
      train_loader_->start_epoch(rngs_.data, epochs_processed_);  // DDP's sampler.set_epoch(current.processed)
    } else if (train_loader_->shuffle()) {
      train_loader_->start_epoch_from_seed(finder_made && made_order_seed_ ? *made_order_seed_ : torch_global_->draw());
    }
    made_order_seed_.reset();
    if (resuming_mid_epoch) torch_global_->generator() = saved;
    // FitLoop.on_advance_start: a restarted epoch that had started does not start again (its
    // callbacks neither: LearningRateMonitor logs no epoch row, GradientAccumulationScheduler sets
    // nothing, as in Lightning).
    const bool resumed_epoch = restarting_ && resumed_open_epoch_;
    // Saved in the epoch's last on_train_batch_end: its validation and end are still to come, and
    // run here with the metrics they log, so the plateau step at its end runs as it did in the
    // uninterrupted fit (Lightning 2.6 instead counts that epoch as done without its validation and
    // end, and restarts the next: README, "Not supported yet").
    const bool finishing_last_batch = advance_end_pending_ && batch_in_epoch_ == num_train_batches_;
    const bool skip_plateau = resumed_epoch && !finishing_last_batch;
    epoch_open_ = true;
    // The epoch loop's reset: the validation batches are counted per epoch (a resumed epoch's from 0).
    if (!resumed_epoch) val_batches_total_ = 0;
    if (!(resumed_epoch && resumed_started_epoch_)) {
      LTRT_CALLBACKS_AND_HOOK(on_train_epoch_start, (trainer_))
      take_callback_logs();
    }
    // Lightning's run_training_epoch: the epoch's batches and validations, up to its end hooks.
    if (profiler_) profiler_->start("run_training_epoch");
    epoch_started_ = true;
    restarting_ = resumed_open_epoch_ = resumed_started_epoch_ = false;
    bar.start_epoch(epoch_, num_train_batches_);
    std::int64_t b = resuming_mid_epoch ? batch_in_epoch_ : 0;
    if (advance_end_pending_) {
      advance_end_pending_ = false;
      advance_end(b - 1);
    } else if (advance_end_tail_pending_) {
      // Lightning restarts such a batch "on last": its on_advance_end runs again without the
      // validation, so the step count moves on as it would have.
      advance_end_tail_pending_ = false;
      advance_end_after_validation(b - 1);
    }
    // TrainingEpochLoop.done: the epoch's batches, max_steps, or a stop request.
    for (; b < num_train_batches_ && !max_steps_reached() && !(should_stop_ && can_stop_early()); ++b) {
      train_batch(b);
      advance_end(b);
      if (bar.wants_loss(b + 1)) {
        fetch_step_metrics();
        bar.update(b + 1, logged_loss_);
      } else {
        bar.advance(b + 1);
      }
    }
    // An epoch that limit_train_batches, max_steps or a stop request ends early: its persistent
    // workers drew for the batches they had been sent (a checkpoint saved inside the epoch, whose
    // resumed fit comes here again, holds the generators before these draws).
    train_loader_->draw_prefetched(b);
    train_loader_->commit_workers();
    if (bar.enabled() && has_loss_) {
      fetch_step_metrics();
      bar.set_loss(logged_loss_);
    }
    if (profiler_) profiler_->stop("run_training_epoch");
    bar.end_epoch();
    flush_train_rows();
    // FitLoop.on_advance_end
    ++epochs_processed_;
    epoch_open_ = epoch_started_ = false;
    // model.log.on_epoch: from here callback_metrics' train_loss is the epoch's (and train_loss_epoch).
    const Metrics train_epoch = train_epoch_metrics();
    LTRT_CALLBACKS_AND_HOOK(on_train_epoch_end, (trainer_))
    // A restarted epoch's plateau step is left out: Lightning's checkpoints hold no metrics for it.
    if (batch_in_epoch_ == num_train_batches_ && !skip_plateau) step_schedulers("epoch", true);
    flush_train_rows();
    // ... logged after the epoch-end hooks at the epoch's last step (FitLoop.on_advance_end).
    if (!train_epoch.empty() && loggers_->enabled()) {
      loggers_->log(train_epoch, batches_that_stepped_ - 1, epoch_);
      if constexpr (user_hooks::any) {
        for (const auto& [k, v] : train_epoch) logged_metrics_[k] = v;
        logged_metrics_["epoch"] = static_cast<double>(epoch_);
      }
    }
    loggers_->save();
    batch_in_epoch_ = 0;
    ++epoch_;
  }
  if (!skip) {
    bar.finish();  // TQDMProgressBar.on_train_end
    LTRT_CALLBACKS_AND_HOOK(on_train_end, (trainer_))
  }
  flush_train_rows();
  loggers_->save();
  LTRT_USER_HOOK(*this, on_fit_end, (trainer_))
  // _call_teardown_hook, after a fit that ended normally (not after an exception: Lightning's
  // _call_and_handle_interrupt runs on_exception and no teardown hook).
  callbacks_.teardown(context());
  LTRT_USER_HOOK(*this, teardown, (trainer_, std::string("fit")))

  result.current_epoch = epoch_;
  result.global_step = global_step_;
  result.steps_this_run = steps_this_run_;
  result.validations = validations_;
  result.metrics_rows = loggers_->rows();
  result.log_dir = loggers_->dir();
  if (ModelCheckpoint* mc = callbacks_.checkpoint_callback()) {
    result.checkpoint_path = mc->last_model_path.empty() ? mc->best_model_path : mc->last_model_path;
    result.best_model_path = mc->best_model_path;
  }
  fetch_step_metrics();
  result.has_loss = has_loss_;
  result.last_loss = last_loss_;
  result.callback_metrics = callback_metrics_;
  std::fprintf(out_, "`Trainer.fit` stopped: %s\n", result.stop_reason.c_str());
  if (!result.log_dir.empty()) std::fprintf(out_, "Logs: %s\n", result.log_dir.c_str());
  if (!result.checkpoint_path.empty()) std::fprintf(out_, "Checkpoint: %s\n", result.checkpoint_path.c_str());
  std::fflush(out_);
  // Lightning's _call_teardown_hook ends with the profiler's report.
  if (profiler_)
    describe_profile(*profiler_, t_.profiler, "fit", result.log_dir.empty() ? t_.default_root_dir : result.log_dir,
                     group_.distributed() ? std::optional<int>(group_.rank()) : std::nullopt, out_);
  return result;
}

// The user hooks of trainer.validate (on_validation_*), trainer.test (on_test_*) and trainer.predict
// (on_predict_*), and their setup and teardown.
class EvalHooks {
 public:
  enum class Stage { validate, test, predict };
  EvalHooks(Stage stage, const ModelDef& model, std::byte* arena)
      : trainer(callback_metrics, logged_metrics, access(model, arena)), stage_(stage) {
    trainer.global_rank = ProcessGroup::world().rank();
    trainer.world_size = ProcessGroup::world().size();
    trainer.is_global_zero = ProcessGroup::world().is_global_zero();
  }
  void begin_hook(const char* name) { running = name; }
  void end_hook() { running = nullptr; }
  [[noreturn]] void fail(const std::exception& e) {
    std::string message = running ? std::string("hook ") + running + " threw: " + e.what() : e.what();
    try {
      LTRT_USER_HOOK(*this, on_exception, (trainer, e))
    } catch (const std::exception& again) {
      message += "; then on_exception threw: " + std::string(again.what());
    }
    throw_like(e, message);
  }
  // Runs body() inside the hooks: an exception in it runs on_exception and names the hook that threw.
  template <typename Body>
  auto guard(Body&& body) {
    if constexpr (!user_hooks::any) {
      return body();
    } else {
      try {
        return body();
      } catch (const std::exception& e) {
        fail(e);
      } catch (...) {
        fail(Error("an exception that is not a std::exception"));
      }
    }
  }

  // Lightning's TrainerFn value, what setup and teardown get.
  const std::string& stage_name() const {
    static const std::string names[] = {"validate", "test", "predict"};
    return names[static_cast<int>(stage_)];
  }
  void setup() { LTRT_USER_HOOK(*this, setup, (trainer, stage_name())) }
  void teardown() { LTRT_USER_HOOK(*this, teardown, (trainer, stage_name())) }
  // on_load_checkpoint, with what on_save_checkpoint saved in `path`.
  void load_checkpoint(const std::string& path) {
    if constexpr (user_hooks::on_load_checkpoint) {
      trainer.checkpoint = checkpoint_user_entries(path);
      LTRT_USER_HOOK(*this, on_load_checkpoint, (trainer))
      trainer.checkpoint.clear();
    }
  }

#define LTRT_EVAL_HOOK(suffix, args)                    \
  if (stage_ == Stage::validate) {                      \
    LTRT_USER_HOOK(*this, on_validation_##suffix, args) \
  } else if (stage_ == Stage::test) {                   \
    LTRT_USER_HOOK(*this, on_test_##suffix, args)       \
  } else {                                              \
    LTRT_USER_HOOK(*this, on_predict_##suffix, args)    \
  }
  void start() { LTRT_EVAL_HOOK(start, (trainer)) }
  void epoch_start() { LTRT_EVAL_HOOK(epoch_start, (trainer)) }
  void batch_start(std::int64_t b) { LTRT_EVAL_HOOK(batch_start, (trainer, b)) }
  void epoch_end() { LTRT_EVAL_HOOK(epoch_end, (trainer)) }
  void end() { LTRT_EVAL_HOOK(end, (trainer)) }
#undef LTRT_EVAL_HOOK
  // Validation's and test's batch ends get the batch's loss (wants_loss says whether one is
  // defined: reading the loss can cost a copy from the GPU); predict's gets none.
  static constexpr bool wants_loss =
      user_hooks::on_validation_batch_end || user_hooks::on_test_batch_end;
  void batch_end(std::int64_t b, float loss) {
    if (stage_ == Stage::validate) {
      LTRT_USER_HOOK(*this, on_validation_batch_end, (trainer, b, loss))
    } else if (stage_ == Stage::test) {
      LTRT_USER_HOOK(*this, on_test_batch_end, (trainer, b, loss))
    }
  }
  void predict_batch_end(std::int64_t b) { LTRT_USER_HOOK(*this, on_predict_batch_end, (trainer, b)) }

  std::map<std::string, double> callback_metrics, logged_metrics;
  Trainer trainer;
  const char* running = nullptr;

 private:
  Stage stage_;
  static Trainer::Access access(const ModelDef& model, std::byte* arena) {
    Trainer::Access a;
    a.model = &model;
    a.arena = arena;
    a.spec_lr = param_groups_of(model)[0].lr;  // param_groups[0]["lr"]
    return a;
  }
};

EvalResult evaluate_loop(EvalHooks& hooks, const ModelDef& model, const FitConfig& config, std::FILE* out,
                         const char* stage, const Dataset& data, const BatchCount& limit, Arena& arena, Rngs& rngs);

// validate / test: weights from --ckpt_path (or --init_weights, or the
// default initialisation), one pass in eval mode, metrics logged at step 0.
// As in fit, an exception after the hooks are set up runs on_exception and names the user hook that threw.
// ThroughputMonitor and DeviceStatsMonitor log in fit only (README): outside it Lightning would log
// rows that this program does not, which it says rather than leave unsaid.
void warn_monitors_outside_fit(const FitConfig& config, const std::string& stage) {
  const Callbacks callbacks = Callbacks::read(callbacks_spec(config), true);
  bool throughput = false, device_stats = false;
  for (const auto& cb : callbacks.list()) {
    if (dynamic_cast<const ThroughputMonitor*>(cb.get()) && !std::exchange(throughput, true))
      std::fprintf(ProcessGroup::world().rank_zero(stderr),
                   "UserWarning: ThroughputMonitor is not supported yet outside fit: %s logs no %s/ throughput "
                   "rows.\n", stage.c_str(), stage.c_str());
    // (Lightning's has no predict hooks: predict logs nothing there either)
    if (dynamic_cast<const DeviceStatsMonitor*>(cb.get()) && stage != "predict" && !std::exchange(device_stats, true))
      std::fprintf(ProcessGroup::world().rank_zero(stderr),
                   "UserWarning: DeviceStatsMonitor is not supported yet outside fit: %s logs no device "
                   "statistics.\n",
                   stage.c_str());
  }
}

EvalResult evaluate(const ModelDef& model, const FitConfig& config, std::FILE* out, const char* stage,
                    const DataSource& source, const BatchCount& limit) {
  const TrainerConfig t = effective(config.trainer);
  check_launch(ProcessGroup::world(), t, stage);
  warn_monitors_outside_fit(config, stage);
  out = ProcessGroup::world().rank_zero(out);
  if (source.kind == DataSourceKind::none)
    throw Error(std::string("the spec has no ") + (std::string(stage) == "validate" ? "validation" : stage) +
                " data: add data." + (std::string(stage) == "validate" ? "val" : stage) + " to the spec");
  Rngs rngs = seed_everything(t.seed);
  Arena arena(model.arena_bytes);
  TorchGenerator torch_generator(static_cast<std::uint64_t>(t.seed));
  init_parameters(model, arena.data(), torch_generator);
  Dataset data;
  ProcessGroup::world().agree_on_failure([&] {
    TorchGenerator randn = randn_generator(t.seed, std::string(stage) == "validate" ? Split::val : Split::test);
    data = load_dataset(with_train_vocabulary(source, config.train), model.input, model.target, randn,
                        class_targets_of(model, true),
                        other_inputs_of(model));
    if (!config.init_weights.empty()) load_weights(config.init_weights, model, arena.data());
  });
  EvalHooks hooks(std::string(stage) == "validate" ? EvalHooks::Stage::validate : EvalHooks::Stage::test, model,
                  arena.data());
  return hooks.guard([&] { return evaluate_loop(hooks, model, config, out, stage, data, limit, arena, rngs); });
}

// Outside fit Lightning still restores the callbacks from a checkpoint (restore_callbacks), and
// WeightAveraging.on_load_checkpoint, without an averaged model then, warns; the weights loaded are
// the checkpoint's state_dict, its averaged model.
void warn_averaging_outside_fit(const FitConfig& config) {
  if (config.ckpt_path.empty() || !Callbacks::read(callbacks_spec(config), true).weight_averaging()) return;
  std::fprintf(ProcessGroup::world().rank_zero(stderr),
               "UserWarning: You're using the WeightAveraging callback, but loading a checkpoint outside the 'fit' "
               "stage. The WeightAveraging state cannot be restored. If you're using the checkpoint for prediction "
               "or testing, you can ignore this warning. To disable the warning, remove the WeightAveraging "
               "callback.\n");
}

EvalResult evaluate_loop(EvalHooks& hooks, const ModelDef& model, const FitConfig& config, std::FILE* out,
                         const char* stage, const Dataset& data, const BatchCount& limit, Arena& arena, Rngs& rngs) {
  const TrainerConfig t = effective(config.trainer);
  // Lightning's _run: setup, the checkpoint (on_load_checkpoint), the loop, teardown.
  hooks.setup();
  if (!config.ckpt_path.empty()) {
    ProcessGroup::world().agree_on_failure([&] { load_weights(config.ckpt_path, model, arena.data()); });
    hooks.load_checkpoint(config.ckpt_path);
    warn_averaging_outside_fit(config);
  }
  const ProcessGroup& group = ProcessGroup::world();
  const std::unique_ptr<Backend> backend = make_backend(model, arena, t, group.rank_zero(stderr), group);
  backend->upload();
  // Under DDP each rank evaluates its shard (DistributedSampler, no shuffle) and rank 0's metrics are logged.
  DataLoader loader(data, model.data.batch_size, false, false,
                    Shard{t.sharded(), group.rank(), group.size(), t.seed, t.seed_workers});
  loader.set_workers(model.data.num_workers);  // (where the transforms run: torch's threads there)
  loader.start_epoch(rngs.data);
  EvalResult r;
  r.batches = limit.of(loader.num_batches());
  const std::string prefix = std::string(stage) == "validate" ? "val" : "test";
  // trainer.profiler: the loop's actions, under Lightning's names.
  const std::unique_ptr<SimpleProfiler> profiler = make_profiler(t.profiler);
  const std::string next_action = "[_EvaluationLoop]." + prefix + "_next";
  const std::string step_action = strategy_action(t.ddp(), prefix == "val" ? "validation_step" : "test_step");
  hooks.start();
  hooks.epoch_start();
  for (std::int64_t b = 0; b < r.batches; ++b) {
    hooks.batch_start(b);
    int n = 0;
    {
      const ProfileScope profile(profiler.get(), next_action.c_str());
      n = loader.load_batch(b, arena.data(), model.input, model.target);
    }
    {
      const ProfileScope profile(profiler.get(), step_action.c_str());
      backend->evaluate(n);
    }
    if constexpr (EvalHooks::wants_loss) hooks.batch_end(b, backend->eval_loss());
  }
  const EvalSums sums = backend->take_eval_sums();
  for (const auto& [k, v] : epoch_metrics(model, sums, backend->take_eval_states(), group, prefix))
    r.metrics[k] = v;
  for (const auto& [k, v] : r.metrics) hooks.callback_metrics[k] = v;
  hooks.epoch_end();
  Loggers loggers(t, model, group);
  Metrics m(r.metrics.begin(), r.metrics.end());
  loggers.log(m, 0, 0);
  loggers.save();
  if (loggers.enabled()) {
    for (const auto& [k, v] : m) hooks.logged_metrics[k] = v;
    hooks.logged_metrics["epoch"] = 0;
  }
  hooks.end();
  r.log_dir = loggers.dir();
  const std::string title = std::string(stage) == "validate" ? "Validate" : "Test";
  print_results(out, title.c_str(), r.metrics);
  hooks.teardown();
  if (profiler)
    describe_profile(*profiler, t.profiler, stage, r.log_dir.empty() ? t.default_root_dir : r.log_dir,
                     group.distributed() ? std::optional<int>(group.rank()) : std::nullopt, out);
  return r;
}

}  // namespace

FitConfig FitConfig::from_model(const ModelDef& model) {
  FitConfig c;
  c.spec = json::parse(model.spec_json ? model.spec_json : "{}");
  c.trainer = read_trainer_config(c.spec, group_lrs(model), optimizer_momentum(model.optimizer));
  c.train = DataSource::from(model.data.train);
  c.val = DataSource::from(model.data.val);
  c.test = DataSource::from(model.data.test);
  c.predict = DataSource::from(model.data.predict);
  return c;
}

std::int64_t resolve_max_epochs(std::int64_t max_epochs, std::int64_t max_steps) {
  if (max_epochs == -1 && max_steps == -1) return 1000;
  return max_epochs;
}

std::string checkpoint_filename(std::int64_t epoch, std::int64_t global_step) {
  return "epoch=" + std::to_string(epoch) + "-step=" + std::to_string(global_step) + ".safetensors";
}

std::string resolve_ckpt_path(const std::string& value, const TrainerConfig& trainer) {
  if (value != "last" && value != "best") return value;
  // Where the version folders are: the first logger's root (ltgen's default pair's
  // <default_root_dir>/lightning_logs); a logger with a fixed version names its folder.
  const fs::path logs = trainer.loggers.empty() ? fs::path(trainer.default_root_dir) / "lightning_logs"
                                                : fs::path(trainer.loggers[0].root_dir());
  // The newest version folder that holds checkpoints.
  std::vector<std::pair<std::int64_t, fs::path>> versions;
  std::error_code ec;
  // Without a logger, ModelCheckpoint writes to <default_root_dir>/checkpoints; a logger with a
  // fixed version, to its folder's checkpoints.
  const bool fixed = !trainer.logger || (!trainer.loggers.empty() && trainer.loggers[0].version);
  const fs::path fixed_dir = !trainer.logger ? fs::path(trainer.default_root_dir) / "checkpoints"
                             : fixed         ? logs / *trainer.loggers[0].version / "checkpoints"
                                             : fs::path();
  if (fixed && fs::is_directory(fixed_dir, ec)) versions.push_back({0, fixed_dir});
  for (const auto& e : fs::directory_iterator(fixed ? fs::path() : logs, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("version_", 0) != 0) continue;
    char* end = nullptr;
    const long long v = std::strtoll(name.c_str() + 8, &end, 10);
    if (*end == '\0' && fs::is_directory(e.path() / "checkpoints")) versions.push_back({v, e.path() / "checkpoints"});
  }
  if (versions.empty())
    throw Error("--ckpt_path=" + value + ": no checkpoints under " + (fixed ? fixed_dir : logs).string() +
                "; train first or give a path");
  const fs::path dir = std::max_element(versions.begin(), versions.end())->second;
  std::vector<std::pair<fs::file_time_type, fs::path>> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".safetensors") files.push_back({fs::last_write_time(e.path(), ec), e.path()});
  if (files.empty()) throw Error("--ckpt_path=" + value + ": " + dir.string() + " holds no checkpoint");
  if (value == "last") {
    if (fs::exists(dir / "last.safetensors")) return (dir / "last.safetensors").string();
    return std::max_element(files.begin(), files.end())->second.string();
  }
  // "best": what the newest checkpoint's ModelCheckpoint recorded.
  const fs::path newest = std::max_element(files.begin(), files.end())->second;
  const SafeTensorsFile file = read_safetensors(newest.string());
  const std::string* callbacks = file.find_metadata("callbacks");
  if (callbacks) {
    const json::Value states = json::parse(*callbacks);
    for (const auto& [key, state] : states.members) {
      if (key.rfind("ModelCheckpoint", 0) != 0) continue;
      const json::Value* best = state.find("best_model_path");
      if (best && best->is_string() && !best->str.empty()) return best->str;
    }
  }
  throw Error("--ckpt_path=best: " + newest.string() + " records no best_model_path");
}

FitResult fit(const ModelDef& model, const FitConfig& config, std::FILE* out) {
  if (config.trainer.max_steps < -1)
    throw Error("max_steps must be a non-negative integer or -1 (no limit), got " + std::to_string(config.trainer.max_steps));
  if (config.trainer.max_epochs < -1)
    throw Error("max_epochs must be a non-negative integer or -1, got " + std::to_string(config.trainer.max_epochs));
  const ProcessGroup& group = ProcessGroup::world();
  check_launch(group, config.trainer, "fit");
  std::unique_ptr<Fit> f;
  group.agree_on_failure([&] { f = std::make_unique<Fit>(model, config, out); });
  return f->run();
}

EvalResult validate(const ModelDef& model, const FitConfig& config, std::FILE* out) {
  return evaluate(model, config, out, "validate", config.val, effective(config.trainer).limit_val_batches);
}

EvalResult test(const ModelDef& model, const FitConfig& config, std::FILE* out) {
  return evaluate(model, config, out, "test", config.test, effective(config.trainer).limit_test_batches);
}

namespace {
// predict with a prompt source: generated text on `out` and in predictions.txt.
// The prompt is predict's one batch (batch_idx 0): the hooks run as for one batch of samples.
std::string predict_text(EvalHooks& hooks, const ModelDef& model, const FitConfig& config, const TrainerConfig& t,
                         Arena& arena, Rngs& rngs, std::FILE* out) {
  // The vocabulary the weights were trained with: the checkpoint's, else the training corpus's.
  std::string vocabulary;
  for (const std::string& file : {config.ckpt_path, config.init_weights}) {
    if (file.empty() || !vocabulary.empty()) continue;
    vocabulary = checkpoint_vocabulary(file);
  }
  if (!config.init_weights.empty()) load_weights(config.init_weights, model, arena.data());
  hooks.setup();
  if (!config.ckpt_path.empty()) {
    load_weights(config.ckpt_path, model, arena.data());
    hooks.load_checkpoint(config.ckpt_path);
    warn_averaging_outside_fit(config);
  }
  if (vocabulary.empty()) {
    if (config.train.kind != DataSourceKind::text)
      throw Error("predict with a prompt needs the vocabulary of a text corpus: the spec's data.train source");
    vocabulary = text_vocabulary(config.train.text_path);
  }
  // Each token's forward runs where the program trains (the GPU's predict() copies the logits back).
  const std::unique_ptr<Backend> backend = make_backend(model, arena, t, stderr, ProcessGroup::world());
  backend->upload();
  hooks.start();
  hooks.epoch_start();
  hooks.batch_start(0);
  const std::string text =
      generate_text(model, arena.data(), vocabulary, config.predict, rngs.data, [&](int n) { backend->predict(n); });
  hooks.predict_batch_end(0);
  hooks.epoch_end();
  hooks.end();
  const std::string path =
      config.predictions_path.empty() ? join_path(t.default_root_dir, "predictions.txt") : config.predictions_path;
  if (fs::path(path).has_parent_path()) make_dirs(fs::path(path).parent_path().string());
  write_file_atomic(path, text);
  std::fprintf(out, "%s\n", text.c_str());
  std::fprintf(out, "Predictions: %s (%zu bytes)\n", path.c_str(), text.size());
  hooks.teardown();
  return path;
}

// predict on samples: the model's outputs, every batch's, in one .npy.
std::string predict_samples(EvalHooks& hooks, const ModelDef& model, const FitConfig& config, const TrainerConfig& t,
                            const Dataset& data, Arena& arena, Rngs& rngs, std::FILE* out) {
  hooks.setup();
  if (!config.ckpt_path.empty()) {
    load_weights(config.ckpt_path, model, arena.data());
    hooks.load_checkpoint(config.ckpt_path);
    warn_averaging_outside_fit(config);
  }
  const std::unique_ptr<Backend> backend = make_backend(model, arena, t, stderr, ProcessGroup::world());
  backend->upload();
  DataLoader loader(data, model.data.batch_size, false, false);
  loader.set_workers(model.data.num_workers);
  loader.start_epoch(rngs.data);
  const std::int64_t batches = t.limit_predict_batches.of(loader.num_batches());
  const std::int64_t per_row = model.output.sample_numel();
  std::vector<float> rows;
  std::int64_t count = 0;
  const std::unique_ptr<SimpleProfiler> profiler = make_profiler(t.profiler);
  const std::string step_action = strategy_action(false, "predict_step");  // predict runs in one process
  hooks.start();
  hooks.epoch_start();
  for (std::int64_t b = 0; b < batches; ++b) {
    hooks.batch_start(b);
    int n = 0;
    {
      const ProfileScope profile(profiler.get(), "[_PredictionLoop].predict_next");
      n = loader.load_batch(b, arena.data(), model.input, model.target);
    }
    {
      const ProfileScope profile(profiler.get(), step_action.c_str());
      backend->predict(n);
    }
    const float* o = reinterpret_cast<const float*>(arena.data() + model.output.offset);
    rows.insert(rows.end(), o, o + n * per_row);
    count += n;
    hooks.predict_batch_end(b);
  }
  hooks.epoch_end();
  hooks.end();
  std::vector<std::int64_t> shape = {count};
  for (int d = 1; d < model.output.rank; ++d) shape.push_back(model.output.shape[d]);
  const std::string path =
      config.predictions_path.empty() ? join_path(t.default_root_dir, "predictions.npy") : config.predictions_path;
  if (fs::path(path).has_parent_path()) make_dirs(fs::path(path).parent_path().string());
  write_npy(path, DType::f32, shape, rows.data());
  std::fprintf(out, "Predictions: %s (%lld rows)\n", path.c_str(), static_cast<long long>(count));
  hooks.teardown();
  if (profiler) describe_profile(*profiler, t.profiler, "predict", t.default_root_dir, std::nullopt, out);
  return path;
}
}  // namespace

std::string predict(const ModelDef& model, const FitConfig& config, std::FILE* out) {
  const TrainerConfig t = effective(config.trainer);
  check_launch(ProcessGroup::world(), t, "predict");
  warn_monitors_outside_fit(config, "predict");
  if (config.predict.kind == DataSourceKind::none)
    throw Error("the spec has no predict data: add data.predict to the spec");
  Rngs rngs = seed_everything(t.seed);
  Arena arena(model.arena_bytes);
  TorchGenerator torch_generator(static_cast<std::uint64_t>(t.seed));
  init_parameters(model, arena.data(), torch_generator);
  EvalHooks hooks(EvalHooks::Stage::predict, model, arena.data());
  if (config.predict.kind == DataSourceKind::prompt)
    return hooks.guard([&] { return predict_text(hooks, model, config, t, arena, rngs, out); });
  TorchGenerator randn = randn_generator(t.seed, Split::predict);
  const Dataset data = load_dataset(with_train_vocabulary(config.predict, config.train), model.input, model.target, randn,
                                    class_targets_of(model, false),
                                    other_inputs_of(model));
  if (!config.init_weights.empty()) load_weights(config.init_weights, model, arena.data());
  return hooks.guard([&] { return predict_samples(hooks, model, config, t, data, arena, rngs, out); });
}

}  // namespace ltrt
