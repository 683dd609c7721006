// Lightning's callbacks (lightning.pytorch.callbacks, 2.x) as runtime units:
// EarlyStopping, ModelCheckpoint, LearningRateMonitor, Timer,
// GradientAccumulationScheduler, WeightAveraging, EMAWeightAveraging, StochasticWeightAveraging and
// SpikeDetection, ThroughputMonitor (and OnExceptionCheckpoint, TQDMProgressBar, ModelSummary). The spec lists
// them as LightningCLI does:
//
//   "trainer": {"callbacks": [{"class_path": "EarlyStopping",
//                              "init_args": {"monitor": "val_loss", "patience": 3}}, ...]}
//
// class_path is the bare class name, lightning.pytorch.callbacks.<Name>,
// pytorch_lightning.callbacks.<Name>, or either with the defining module
// (lightning.pytorch.callbacks.early_stopping.EarlyStopping).
//
// The trainer owns a Callbacks list and calls its hooks at Lightning's hook
// points, filling in a CallbackContext each time (what Lightning's callbacks
// read from and write to `trainer`). Hook order inside fit, as Lightning 2.x
// calls them for the four callbacks here:
//
//   setup                    once, before a --ckpt_path restore (load_state)
//   on_fit_start             after the restore
//   on_train_start
//   per epoch:
//     on_train_epoch_start
//     per batch: on_train_batch_start, (step; global_step += 1), on_train_batch_end
//     validation (when it runs at the end of the epoch, inside the epoch loop):
//       on_validation_start, on_validation_epoch_start, (batches), on_validation_epoch_end,
//       on_validation_end
//     on_train_epoch_end     (after the epoch's validation)
//   on_train_end
//
// The sanity check's validation also calls on_validation_start/_end, with
// ctx.sanity_checking = true (the callbacks skip their work then).
//
// The list is in Lightning's order (_CallbackConnector._reorder_callbacks):
// the spec's callbacks in spec order, the Checkpoint callbacks (ModelCheckpoint,
// OnExceptionCheckpoint) moved to the end (spec order among them), so that a
// checkpoint saved in a hook holds the other callbacks' state of that same hook.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ltrt/model.hpp"
#include "ltrt/json.hpp"

namespace ltrt {

class Backend;
class LrScheduler;
class Optimizer;

// What a callback sees and may do; the trainer fills it in before each hook.
struct CallbackContext {
  std::int64_t current_epoch = 0;         // trainer.current_epoch
  std::int64_t global_step = 0;           // trainer.global_step (optimizer steps; already incremented in on_train_batch_end)
  std::int64_t batches_that_stepped = 0;  // fit_loop.epoch_loop._batches_that_stepped: the step metrics are logged at
  std::int64_t log_every_n_steps = 50;    // trainer.log_every_n_steps (LearningRateMonitor's should_update_logs)
  bool sanity_checking = false;           // trainer.sanity_checking
  // The validation schedule (ModelCheckpoint._should_save_on_train_epoch_end, EarlyStopping.setup):
  bool has_val_loop = false;              // trainer.num_val_batches > 0
  std::int64_t check_val_every_n_epoch = 1;
  double val_check_interval = 1.0;        // 1.0: once per epoch (an integer N there counts batches; 1 == 1.0 as in Python)
  bool val_loop_has_run = false;          // fit_loop.epoch_loop.val_loop._has_run (ModelCheckpoint: missing monitor is an error then)
  bool is_last_batch = false;             // batch_progress.is_last_batch: the loader's last batch of the epoch
  std::int64_t batch_idx = 0;             // on_train_batch_end's batch_idx: the batch's index in its epoch
  std::int64_t batch_rows = 0;            // the rows of the batch whose *_batch_end this is
  bool accumulating = false;              // on_train_batch_end: fit_loop._should_accumulate() (no step yet)
  // In a validation: its batches so far (batch_progress.current.ready) and the training epoch's so
  // far (batch_progress.total.ready: every validation's of the epoch, the sanity check's aside).
  std::int64_t eval_batches_ready = 0;
  std::int64_t eval_batches_total = 0;
  // on_train_batch_end's outputs["loss"]: the step's loss divided by accumulate_grad_batches (a GPU
  // step's is read back when asked for).
  std::function<float()> batch_loss;
  double elapsed_seconds = 0;             // a monotonic clock, seconds (time.monotonic() for Timer and train_time_interval)
  std::function<double()> clock;          // ... read now (elapsed_seconds is the hook's start)
  double now() const { return clock ? clock() : elapsed_seconds; }
  std::function<void()> synchronize;      // waits for the device's queued work (GPU); unset: nothing to wait for
  // trainer.callback_metrics: train_loss, val_loss, val_acc, ... (float32 values in Lightning: the callbacks
  // compare and format them as floats). LearningRateMonitor adds its lr-* values to it, as Lightning does.
  // Read and write it through metrics(): the last training step's values may still be on the GPU.
  std::map<std::string, double>* callback_metrics = nullptr;
  std::function<void()> fetch_metrics;  // brings them into callback_metrics (empty: nothing pending)
  std::map<std::string, double>* metrics() const {
    if (fetch_metrics) fetch_metrics();
    return callback_metrics;
  }
  Backend* backend = nullptr;             // where the steps run: WeightAveraging keeps its averaged model there
  Optimizer* optimizer = nullptr;         // trainer.optimizers[0]: BackboneFinetuning adds a group to it
  // After a callback changed the optimizer's groups or lrs: param_groups, lrs and momentums below are
  // read again, for the callbacks after it at the same hook point.
  std::function<void()> optimizer_changed;
  bool* should_stop = nullptr;            // trainer.should_stop
  // trainer.accumulate_grad_batches (GradientAccumulationScheduler sets it at each epoch's start).
  std::int64_t* accumulate_grad_batches = nullptr;
  std::string log_dir;                    // the logger's lightning_logs/version_N ("": no logger)
  std::string default_root_dir = ".";     // trainer.default_root_dir (checkpoints/ there when there is no logger)
  bool has_logger = true;                 // LearningRateMonitor needs one
  std::string ckpt_path;                  // the checkpoint fit resumed from ("" if none): never removed by ModelCheckpoint
  // Saves a checkpoint at `path` (atomically; model weights only when weights_only). The checkpoint holds
  // Callbacks::state() as it is at the call: callbacks update their bookkeeping before saving.
  std::function<void(const std::string& path, bool weights_only)> save_checkpoint;
  // trainer.strategy.remove_checkpoint; unset: std::filesystem::remove.
  std::function<void(const std::string& path)> remove_checkpoint;
  // The optimizer (one) and LR scheduler, for LearningRateMonitor.
  std::string optimizer_name;  // torch's class name: "SGD", "Adam", "AdamW", "Adamax", "RAdam", "NAdam", ...
  // optimizer.param_groups: each group's name (nullptr: none) and weight_decay (one group without a
  // name for a spec that names none), and each group's lr and momentum now (SGD: momentum;
  // Adam/AdamW: betas[0]), one entry per group: the groups the optimizer has now (a BackboneFinetuning's
  // joins at its epoch).
  std::vector<ParamGroupDef> param_groups;
  std::vector<double> lrs, momentums;
  bool has_scheduler = false;
  std::string scheduler_type;                // torch's class name of the scheduler ("StepLR", ...)
  std::string scheduler_interval = "epoch";  // the lr_scheduler config's "interval": "epoch" or "step"
  std::int64_t scheduler_frequency = 1;      // ... and its "frequency"
  std::string scheduler_name;                // the lr_scheduler config's "name" ("" for none)
  // trainer.lr_scheduler_configs replaced (StochasticWeightAveraging): the schedulers given (one per
  // parameter group, or none) with Lightning's default config (interval "epoch", frequency 1, no
  // monitor or name); the optimizer follows them, and this context's scheduler fields and lrs are
  // updated for the callbacks after the caller at the same hook point.
  std::function<void(std::vector<std::unique_ptr<LrScheduler>>)> set_schedulers;
  std::int64_t max_epochs = -1;              // trainer.max_epochs (-1: no limit)
  // StochasticWeightAveraging's BatchNorm epoch (unset outside fit): the fit loop's max_epochs moved
  // by `epochs` (the limit fit stops at, and max_epochs above) ...
  std::function<void(std::int64_t epochs)> extend_max_epochs;
  // ... and the epoch itself (Lightning's fit_loop._skip_backward and what goes with it): start
  // resets BatchNorm's running statistics, switches it to momentum=None, and makes the epoch's
  // batches forward passes alone with one optimizer step at its last batch
  // (accumulate_grad_batches = the epoch's batches + 1); end_epoch ends the skipping; end_fit puts
  // accumulate_grad_batches and BatchNorm's momentum back.
  enum class BatchNormEpoch { start, end_epoch, end_fit };
  std::function<void(BatchNormEpoch)> swa_batch_norm_epoch;
  bool has_batch_norm = false;               // the model has BatchNorm's running statistics
  // Metrics a callback logs now (LearningRateMonitor): the trainer sends them to its loggers with
  // step = batches_that_stepped (Lightning calls logger.log_metrics(stats, step=_batches_that_stepped);
  // no "epoch" column is added for them).
  std::vector<std::pair<std::string, double>>* log = nullptr;
  // Lightning's logger_connector.log_metrics(metrics, step): with a step, a row at it; without, a row
  // with the epoch column at batches_that_stepped. Unset: nothing is logged.
  std::function<void(const std::vector<std::pair<std::string, double>>&, std::optional<std::int64_t>)> log_metrics;
  // Lightning's should_update_logs for `step` (batches_that_stepped + 1 in training, the evaluation's
  // batches so far in one): a multiple of log_every_n_steps (never when it is 0), or stopping.
  bool should_update_logs(std::int64_t step) const {
    return log_every_n_steps != 0 && (step % log_every_n_steps == 0 || (should_stop && *should_stop));
  }
  // Lightning's rank_zero_info / log.info and rank_zero_warn. Unset: written to stderr.
  std::function<void(const std::string& message)> info;
  std::function<void(const std::string& message)> warn;

  // DDP: Lightning's strategy.reduce_boolean_decision (all ranks, or any) and strategy.broadcast (rank
  // 0's value), for the decisions ranks must agree on; unset, one process decides alone. Only rank 0
  // writes, links and removes checkpoint files.
  std::function<bool(bool value, bool all)> reduce_boolean;
  std::function<bool(bool value)> broadcast;
  bool is_global_zero = true;
  int global_rank = 0;
  int world_size = 1;
  bool reduce_decision(bool value, bool all) const { return reduce_boolean ? reduce_boolean(value, all) : value; }
  bool rank_zero_decision(bool value) const { return broadcast ? broadcast(value) : value; }

  void emit_info(const std::string& message) const;
  // Python's warning line, "<category>: <message>" (unless `warn` takes it).
  void emit_warning(const std::string& message, const char* category = "UserWarning") const;
  void request_stop() const;  // trainer.should_stop = True
};

// A Lightning callback. Hooks do nothing unless overridden.
class Callback {
 public:
  virtual ~Callback();
  virtual const char* class_name() const = 0;  // "EarlyStopping", ...
  // Callback.state_key: the class name, or _generate_state_key(...): "EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}".
  virtual std::string state_key() const { return class_name(); }
  // state_dict() / load_state_dict(). An empty object: nothing to save (Lightning stores only non-empty states).
  virtual json::Value state() const;
  virtual void load_state(const json::Value& state);

  virtual void setup(const CallbackContext&) {}
  virtual void on_fit_start(const CallbackContext&) {}
  virtual void on_train_start(const CallbackContext&) {}
  virtual void on_train_epoch_start(const CallbackContext&) {}
  virtual void on_train_batch_start(const CallbackContext&) {}
  virtual void on_train_batch_end(const CallbackContext&) {}
  virtual void on_validation_start(const CallbackContext&) {}
  virtual void on_validation_epoch_start(const CallbackContext&) {}
  virtual void on_validation_batch_start(const CallbackContext&) {}
  virtual void on_validation_batch_end(const CallbackContext&) {}
  virtual void on_validation_epoch_end(const CallbackContext&) {}
  virtual void on_validation_end(const CallbackContext&) {}
  virtual void on_train_epoch_end(const CallbackContext&) {}
  virtual void on_train_end(const CallbackContext&) {}
  // Fit raised `exception` (Lightning's _call_and_handle_interrupt); the program then ends with it.
  virtual void on_exception(const CallbackContext&, const std::exception&) {}
  // teardown(stage="fit"): after a fit that ended normally (after on_fit_end).
  virtual void teardown(const CallbackContext&) {}
};

class EarlyStopping;
class ModelCheckpoint;
class LearningRateMonitor;
class Timer;
class WeightAveraging;
class StochasticWeightAveraging;
class TQDMProgressBar;
class ModelSummary;
class LearningRateFinder;
class BackboneFinetuning;

// Which of the callbacks a hook call reaches: all, or those before / from the first Checkpoint callback.
enum class CallbackRange { all, before_checkpoints, checkpoints };

// trainer.callbacks: the spec's callbacks in Lightning's order.
class Callbacks {
 public:
  Callbacks();
  ~Callbacks();
  Callbacks(Callbacks&&) noexcept;
  Callbacks& operator=(Callbacks&&) noexcept;

  // Reads spec["trainer"]["callbacks"] (a list, or one callback object) and spec["trainer"]["max_time"]
  // (Trainer(max_time=...): a Timer(duration=max_time, interval="step") unless the list has a Timer), then
  // does what Lightning's _CallbackConnector.on_trainer_init does: appends ModelCheckpoint() when none is
  // given and enable_checkpointing, refuses a ModelCheckpoint with enable_checkpointing=false, moves the
  // ModelCheckpoints to the end and refuses two stateful callbacks with the same state_key. Throws
  // ConfigError with the JSON path: "trainer.callbacks[1].init_args.patince: unknown key 'patince'; did
  // you mean 'patience'?". Refuses more than one TQDMProgressBar, or one with enable_progress_bar false.
  // Reads nothing else of the trainer section (read_trainer_config does).
  static Callbacks read(const json::Value& spec, bool enable_checkpointing, bool enable_progress_bar = true);

  // Appends (tests, programmatic use); ModelCheckpoints stay last.
  void add(std::unique_ptr<Callback> callback);

  const std::vector<std::unique_ptr<Callback>>& list() const { return list_; }
  std::size_t size() const { return list_.size(); }
  bool empty() const { return list_.empty(); }
  Callback& operator[](std::size_t i) const { return *list_[i]; }

  // trainer.checkpoint_callback / early_stopping_callback: the first of the kind, or nullptr.
  ModelCheckpoint* checkpoint_callback() const;
  EarlyStopping* early_stopping_callback() const;
  std::vector<ModelCheckpoint*> checkpoint_callbacks() const;
  // The WeightAveraging or EMAWeightAveraging, or the StochasticWeightAveraging (at most one
  // averaging callback in all), or nullptr.
  WeightAveraging* weight_averaging() const;
  StochasticWeightAveraging* stochastic_weight_averaging() const;
  // The TQDMProgressBar (at most one) and the first ModelSummary, or nullptr.
  const TQDMProgressBar* progress_bar() const;
  const ModelSummary* model_summary() const;
  // The first LearningRateFinder, or nullptr (the trainer runs its range test at on_fit_start).
  LearningRateFinder* learning_rate_finder() const;
  // The BackboneFinetuning (at most one), or nullptr.
  const BackboneFinetuning* backbone_finetuning() const;

  // checkpoint["callbacks"]: {state_key: state} for every callback with a non-empty state.
  json::Value state() const;
  // Gives each callback the state stored under its state_key (none: it keeps its own). Throws ltrt::Error
  // naming the key when a stored state is malformed.
  void load_state(const json::Value& states);
  // Keys in `states` that no callback here has, for Lightning's warning ("Be aware that when using
  // `ckpt_path`, callbacks used to create the checkpoint need to be provided during `Trainer`
  // instantiation. Please add the following callbacks: [...]."); "" when every key matched.
  std::string unmatched_state_warning(const json::Value& states) const;

  // Hooks: each callback's hook in list order; a range calls the callbacks before the ModelCheckpoints
  // or the ModelCheckpoints only, so that a program's user hooks run between them (ltrt/hooks.hpp).
  void setup(const CallbackContext& ctx, CallbackRange range = CallbackRange::all);
  void on_fit_start(const CallbackContext& ctx, CallbackRange range = CallbackRange::all);
  void on_train_start(const CallbackContext& ctx, CallbackRange range = CallbackRange::all);
  void on_train_epoch_start(const CallbackContext& ctx, CallbackRange range = CallbackRange::all);
  void on_train_batch_start(const CallbackContext& ctx, CallbackRange range = CallbackRange::all);
  void on_train_batch_end(const CallbackContext& ctx, CallbackRange range = CallbackRange::all);
  void on_validation_start(const CallbackContext& ctx, CallbackRange range = CallbackRange::all);
  void on_validation_epoch_start(const CallbackContext& ctx, CallbackRange range = CallbackRange::all);
  void on_validation_batch_start(const CallbackContext& ctx, CallbackRange range = CallbackRange::all);
  void on_validation_batch_end(const CallbackContext& ctx, CallbackRange range = CallbackRange::all);
  void on_validation_epoch_end(const CallbackContext& ctx, CallbackRange range = CallbackRange::all);
  void on_validation_end(const CallbackContext& ctx, CallbackRange range = CallbackRange::all);
  void on_train_epoch_end(const CallbackContext& ctx, CallbackRange range = CallbackRange::all);
  void on_train_end(const CallbackContext& ctx, CallbackRange range = CallbackRange::all);
  void on_exception(const CallbackContext& ctx, const std::exception& exception,
                    CallbackRange range = CallbackRange::all);
  void teardown(const CallbackContext& ctx);

 private:
  static bool in_range(const Callback& cb, CallbackRange range);
  // The first callback of class T in the list, or nullptr.
  template <class T>
  T* first() const {
    for (const auto& cb : list_)
      if (auto* c = dynamic_cast<T*>(cb.get())) return c;
    return nullptr;
  }
  std::vector<std::unique_ptr<Callback>> list_;
};

// Helpers shared by the callbacks.

// A number in a state object: finite numbers as JSON numbers, inf/-inf/nan as
// the strings "inf", "-inf", "nan" (as ltrt's LR scheduler states write them).
json::Value state_number(double v);
// Reads state_number output; throws ltrt::Error naming `what` otherwise.
double read_state_number(const json::Value& v, const std::string& what);
// Python's repr() of a str: 'val_loss' (double quotes when the text has ' and no ").
std::string python_str_repr(const std::string& s);
// The float32 value of a callback metric, back in double (Lightning's metrics are float32 tensors).
inline double as_float32(double v) { return static_cast<double>(static_cast<float>(v)); }

}  // namespace ltrt
