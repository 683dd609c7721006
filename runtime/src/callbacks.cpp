// The spec's callback list, Lightning's ordering and defaults (_CallbackConnector), state and hooks.
#include "ltrt/callbacks.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <limits>

#include "ltrt/backbone_finetuning.hpp"
#include "ltrt/config_reader.hpp"
#include "ltrt/device_stats_monitor.hpp"
#include "ltrt/early_stopping.hpp"
#include "ltrt/error.hpp"
#include "ltrt/gradient_accumulation_scheduler.hpp"
#include "ltrt/learning_rate_finder.hpp"
#include "ltrt/lr_monitor.hpp"
#include "ltrt/model_checkpoint.hpp"
#include "ltrt/model_summary.hpp"
#include "ltrt/on_exception_checkpoint.hpp"
#include "ltrt/progress_bar.hpp"
#include "ltrt/spike_detection.hpp"
#include "ltrt/stochastic_weight_averaging.hpp"
#include "ltrt/throughput_monitor.hpp"
#include "ltrt/timer.hpp"
#include "ltrt/weight_averaging.hpp"

namespace ltrt {

// --- CallbackContext -----------------------------------------------------------------------------

void CallbackContext::emit_info(const std::string& message) const {
  if (info) info(message);
  else std::fprintf(stderr, "%s\n", message.c_str());
}

void CallbackContext::emit_warning(const std::string& message, const char* category) const {
  if (warn) warn(message);
  else std::fprintf(stderr, "%s: %s\n", category, message.c_str());
}

void CallbackContext::request_stop() const {
  if (!should_stop) throw Error("callback asked the trainer to stop, but the context has no should_stop");
  *should_stop = true;
}

// --- Callback ------------------------------------------------------------------------------------

Callback::~Callback() = default;
json::Value Callback::state() const { return json::Value::make_object(); }
void Callback::load_state(const json::Value&) {}

// --- helpers -------------------------------------------------------------------------------------

json::Value state_number(double v) {
  if (std::isnan(v)) return json::Value::make_string("nan");
  if (std::isinf(v)) return json::Value::make_string(v > 0 ? "inf" : "-inf");
  return json::Value::make_number(v);
}

double read_state_number(const json::Value& v, const std::string& what) {
  if (v.is_number()) return v.num;
  if (v.is_string()) {
    if (v.str == "inf") return std::numeric_limits<double>::infinity();
    if (v.str == "-inf") return -std::numeric_limits<double>::infinity();
    if (v.str == "nan") return std::numeric_limits<double>::quiet_NaN();
  }
  throw Error(what + ": expected a number (or \"inf\", \"-inf\", \"nan\"), got " + describe(v));
}

std::string python_str_repr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char q = has_single && !has_double ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == static_cast<unsigned char>(q)) out += std::string("\\") + q;
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += q;
  return out;
}

// --- reading the spec ----------------------------------------------------------------------------

namespace {

// The callbacks ltgen implements, each with the module it is defined in
// (lightning.pytorch.callbacks.<module>.<Class> is accepted too).
struct KnownCallback {
  const char* name;
  const char* module;
};
const KnownCallback kSupported[] = {
    {"EarlyStopping", "early_stopping"},
    {"ModelCheckpoint", "model_checkpoint"},
    {"LearningRateMonitor", "lr_monitor"},
    {"Timer", "timer"},
    {"GradientAccumulationScheduler", "gradient_accumulation_scheduler"},
    {"WeightAveraging", "weight_averaging"},
    {"EMAWeightAveraging", "weight_averaging"},
    {"StochasticWeightAveraging", "stochastic_weight_avg"},
    {"OnExceptionCheckpoint", "on_exception_checkpoint"},
    {"TQDMProgressBar", "progress.tqdm_progress"},
    {"ModelSummary", "model_summary"},
    {"LearningRateFinder", "lr_finder"},
    {"BackboneFinetuning", "finetuning"},
    {"SpikeDetection", "spike"},
    {"ThroughputMonitor", "throughput_monitor"},
    {"DeviceStatsMonitor", "device_stats_monitor"},
};
// Lightning callbacks ltgen knows of but does not implement: "not supported yet" instead of "unknown".
const char* const kNotYet[] = {
    "BaseFinetuning", "BasePredictionWriter", "BatchSizeFinder",  "Checkpoint",      "LambdaCallback",
    "ModelPruning",   "ProgressBar",          "RichModelSummary", "RichProgressBar", "Callback"};

// isinstance(cb, Checkpoint)
bool is_checkpoint(const Callback& cb) {
  return dynamic_cast<const ModelCheckpoint*>(&cb) != nullptr || dynamic_cast<const OnExceptionCheckpoint*>(&cb) != nullptr;
}
bool is_stateful(const Callback& cb) {
  // is_overridden("state_dict"): EarlyStopping, ModelCheckpoint, Timer and the averaging callbacks
  return dynamic_cast<const EarlyStopping*>(&cb) || dynamic_cast<const ModelCheckpoint*>(&cb) ||
         dynamic_cast<const Timer*>(&cb) || dynamic_cast<const WeightAveraging*>(&cb) ||
         dynamic_cast<const StochasticWeightAveraging*>(&cb) || dynamic_cast<const BackboneFinetuning*>(&cb) ||
         dynamic_cast<const SpikeDetection*>(&cb);
}

// The class name of a class_path, or "" when the path is not a lightning callbacks path.
std::string class_of(const std::string& path) {
  for (const char* prefix : {"lightning.pytorch.callbacks.", "pytorch_lightning.callbacks."}) {
    const std::string p = prefix;
    if (path.compare(0, p.size(), p) != 0) continue;
    std::string rest = path.substr(p.size());
    const std::size_t dot = rest.rfind('.');
    if (dot == std::string::npos) return rest;
    const std::string module = rest.substr(0, dot);
    const std::string name = rest.substr(dot + 1);
    for (const KnownCallback& known : kSupported)
      if (module == known.module && name == known.name) return name;
    return module.find('.') == std::string::npos ? name : "";
  }
  return path.find('.') == std::string::npos ? path : "";
}

std::unique_ptr<Callback> read_callback(const json::Value& entry, const std::string& path) {
  ConfigObject e(entry, path);
  const json::Value& cp = e.require("class_path");
  if (!cp.is_string()) e.fail("class_path", "expected a string, got " + describe(cp));
  const std::string name = class_of(cp.str);
  std::vector<std::string> supported;
  std::string listed;  // "EarlyStopping, ModelCheckpoint, ..."
  for (const KnownCallback& known : kSupported) {
    supported.push_back(known.name);
    listed += (listed.empty() ? "" : ", ") + std::string(known.name);
  }
  if (std::find(supported.begin(), supported.end(), name) == supported.end()) {
    for (const char* n : kNotYet)
      if (name == n) e.fail("class_path", "the callback " + name + " is not supported yet (see README, 'Not supported yet')");
    e.fail("class_path",
           "unknown callback class '" + cp.str + "'" + did_you_mean(name, supported) + " (supported: " + listed + ")");
  }
  const json::Value* args = e.get("init_args");
  e.finish();
  if (args && args->is_null()) args = nullptr;
  // No init_args: {} at the entry's position (errors about missing keys point at the entry).
  json::Value empty = json::Value::make_object();
  empty.pos = entry.pos;
  ConfigObject init(args ? *args : empty, e.path_of("init_args"));
  if (name == "EarlyStopping") return EarlyStopping::read(init);
  if (name == "ModelCheckpoint") return ModelCheckpoint::read(init);
  if (name == "LearningRateMonitor") return LearningRateMonitor::read(init);
  if (name == "GradientAccumulationScheduler") return GradientAccumulationScheduler::read(init);
  if (name == "OnExceptionCheckpoint") return OnExceptionCheckpoint::read(init);
  if (name == "WeightAveraging" || name == "EMAWeightAveraging") return WeightAveraging::read(init, name == "EMAWeightAveraging");
  if (name == "StochasticWeightAveraging") return StochasticWeightAveraging::read(init);
  if (name == "TQDMProgressBar") return TQDMProgressBar::read(init);
  if (name == "ModelSummary") return ModelSummary::read(init);
  if (name == "LearningRateFinder") return LearningRateFinder::read(init);
  if (name == "BackboneFinetuning") return BackboneFinetuning::read(init);
  if (name == "SpikeDetection") return SpikeDetection::read(init);
  if (name == "ThroughputMonitor") return ThroughputMonitor::read(init);
  if (name == "DeviceStatsMonitor") return DeviceStatsMonitor::read(init);
  return Timer::read(init);
}

}  // namespace

Callbacks::Callbacks() = default;
Callbacks::~Callbacks() = default;
Callbacks::Callbacks(Callbacks&&) noexcept = default;
Callbacks& Callbacks::operator=(Callbacks&&) noexcept = default;

Callbacks Callbacks::read(const json::Value& spec, bool enable_checkpointing, bool enable_progress_bar) {
  Callbacks cbs;
  const json::Value* trainer = spec.find("trainer");
  const json::Value* list = trainer ? trainer->find("callbacks") : nullptr;
  std::vector<std::string> paths;  // each callback's JSON path, for the list-wide errors
  if (list && !list->is_null()) {
    if (list->is_object()) {
      // Trainer(callbacks=Callback): `if isinstance(callbacks, Callback): callbacks = [callbacks]`
      cbs.list_.push_back(read_callback(*list, "trainer.callbacks"));
      paths.push_back("trainer.callbacks");
    } else if (list->is_array()) {
      for (std::size_t i = 0; i < list->items.size(); ++i) {
        const std::string path = "trainer.callbacks[" + std::to_string(i) + "]";
        cbs.list_.push_back(read_callback(list->items[i], path));
        paths.push_back(path);
      }
    } else {
      throw ConfigError("trainer.callbacks", list->pos,
                        "expected a list of {\"class_path\": ..., \"init_args\": {...}} objects, got " + describe(*list));
    }
  }
  auto pos_of = [&](std::size_t i) {
    if (list && list->is_array()) return list->items[i].pos;
    return list ? list->pos : json::Pos{};
  };

  // GradientAccumulationScheduler.on_train_start refuses a Trainer that accumulates by itself: said here,
  // where the spec is read (a command line's --trainer.accumulate_grad_batches is refused when fit starts).
  if (const json::Value* acc = trainer ? trainer->find("accumulate_grad_batches") : nullptr;
      acc && !(acc->is_number() && acc->is_integer && acc->integer == 1)) {
    for (std::size_t i = 0; i < cbs.list_.size(); ++i)
      if (dynamic_cast<const GradientAccumulationScheduler*>(cbs.list_[i].get()))
        throw ConfigError(paths[i], pos_of(i),
                          "You have set `accumulate_grad_batches` and are using the `GradientAccumulationScheduler` "
                          "callback. Either remove `accumulate_grad_batches` from the Trainer or remove the callback.");
  }

  // _configure_checkpoint_callbacks
  for (std::size_t i = 0; i < cbs.list_.size(); ++i) {
    if (is_checkpoint(*cbs.list_[i]) && !enable_checkpointing)
      throw ConfigError(paths[i], pos_of(i),
                        "Trainer was configured with `enable_checkpointing=False` but found `ModelCheckpoint` in "
                        "callbacks list.");
  }
  bool has_checkpoint = false;
  for (const auto& cb : cbs.list_) has_checkpoint = has_checkpoint || is_checkpoint(*cb);

  // _configure_progress_bar
  for (std::size_t i = 0, bars = 0; i < cbs.list_.size(); ++i) {
    if (!dynamic_cast<const TQDMProgressBar*>(cbs.list_[i].get())) continue;
    if (++bars > 1)
      throw ConfigError(paths[i], pos_of(i),
                        "You added multiple progress bar callbacks to the Trainer, but currently only one progress "
                        "bar is supported.");
    if (!enable_progress_bar)
      throw ConfigError(paths[i], pos_of(i),
                        "Trainer was configured with `enable_progress_bar=False` but found `TQDMProgressBar` in "
                        "callbacks list.");
  }
  if (!has_checkpoint && enable_checkpointing) {
    cbs.list_.push_back(std::make_unique<ModelCheckpoint>(ModelCheckpoint::Options{}));
    paths.push_back("trainer.enable_checkpointing");
  }

  // _configure_timer_callback(max_time)
  if (const json::Value* max_time = trainer ? trainer->find("max_time") : nullptr) {
    if (std::optional<double> d = read_duration(*max_time, "trainer.max_time")) {
      bool has_timer = false;
      for (const auto& cb : cbs.list_) has_timer = has_timer || dynamic_cast<const Timer*>(cb.get());
      if (!has_timer) {  // else: "Ignoring `Trainer(max_time=...)`, callbacks list already contains a Timer."
        Timer::Options o;
        o.duration = d;
        o.interval = "step";
        cbs.list_.push_back(std::make_unique<Timer>(o));
        paths.push_back("trainer.max_time");
      }
    }
  }

  // _validate_callbacks_list: stateful callbacks need distinct state keys
  for (std::size_t i = 0; i < cbs.list_.size(); ++i) {
    if (!is_stateful(*cbs.list_[i])) continue;
    for (std::size_t j = 0; j < i; ++j) {
      if (!is_stateful(*cbs.list_[j]) || cbs.list_[j]->state_key() != cbs.list_[i]->state_key()) continue;
      const std::string type = cbs.list_[i]->class_name();
      const json::Pos pos = i < (list && list->is_array() ? list->items.size() : 0) ? pos_of(i) : json::Pos{};
      throw ConfigError(paths[i], pos,
                        "Found more than one stateful callback of type `" + type +
                            "`. In the current configuration, this callback does not support being saved alongside "
                            "other instances of the same type. Please consult the documentation of `" + type +
                            "` regarding valid settings for the callback state to be checkpointable. HINT: The "
                            "`callback.state_key` must be unique among all callbacks in the Trainer.");
    }
  }

  // Lightning would keep an averaged model for each; ltgen's backends keep one.
  for (std::size_t i = 0, seen = 0; i < cbs.list_.size(); ++i)
    if ((dynamic_cast<const WeightAveraging*>(cbs.list_[i].get()) ||
         dynamic_cast<const StochasticWeightAveraging*>(cbs.list_[i].get())) &&
        ++seen > 1)
      throw ConfigError(paths[i], pos_of(i),
                        "more than one WeightAveraging, EMAWeightAveraging or StochasticWeightAveraging callback is "
                        "not supported yet (see README, 'Not supported yet'): keep one");

  // _reorder_callbacks: ModelCheckpoints last, order kept within both groups
  std::vector<std::unique_ptr<Callback>> others, checkpoints;
  for (auto& cb : cbs.list_) (is_checkpoint(*cb) ? checkpoints : others).push_back(std::move(cb));
  cbs.list_.clear();
  for (auto& cb : others) cbs.list_.push_back(std::move(cb));
  for (auto& cb : checkpoints) cbs.list_.push_back(std::move(cb));
  return cbs;
}

void Callbacks::add(std::unique_ptr<Callback> callback) {
  if (is_checkpoint(*callback)) {
    list_.push_back(std::move(callback));
    return;
  }
  auto it = list_.begin();
  while (it != list_.end() && !is_checkpoint(**it)) ++it;
  list_.insert(it, std::move(callback));
}

ModelCheckpoint* Callbacks::checkpoint_callback() const { return first<ModelCheckpoint>(); }
WeightAveraging* Callbacks::weight_averaging() const { return first<WeightAveraging>(); }
StochasticWeightAveraging* Callbacks::stochastic_weight_averaging() const { return first<StochasticWeightAveraging>(); }
const TQDMProgressBar* Callbacks::progress_bar() const { return first<TQDMProgressBar>(); }
const ModelSummary* Callbacks::model_summary() const { return first<ModelSummary>(); }
LearningRateFinder* Callbacks::learning_rate_finder() const { return first<LearningRateFinder>(); }
const BackboneFinetuning* Callbacks::backbone_finetuning() const { return first<BackboneFinetuning>(); }
EarlyStopping* Callbacks::early_stopping_callback() const { return first<EarlyStopping>(); }

std::vector<ModelCheckpoint*> Callbacks::checkpoint_callbacks() const {
  std::vector<ModelCheckpoint*> out;
  for (const auto& cb : list_)
    if (auto* m = dynamic_cast<ModelCheckpoint*>(cb.get())) out.push_back(m);
  return out;
}

json::Value Callbacks::state() const {
  // _call_callbacks_state_dict: `if state_dict: checkpoint["callbacks"][callback.state_key] = state_dict`
  json::Value states = json::Value::make_object();
  for (const auto& cb : list_) {
    json::Value s = cb->state();
    if (s.is_object() && !s.members.empty()) states.set(cb->state_key(), std::move(s));
  }
  return states;
}

void Callbacks::load_state(const json::Value& states) {
  if (states.is_null()) return;  // checkpoint.get("callbacks") is None
  if (!states.is_object()) throw Error("callback states: expected an object of {state_key: state}");
  for (const auto& cb : list_) {
    const json::Value* s = states.find(cb->state_key());
    // `if state:` an empty state is not loaded
    if (!s || (s->is_object() && s->members.empty())) continue;
    try {
      cb->load_state(*s);
    } catch (const Error& e) {
      throw Error("callback state " + cb->state_key() + ": " + e.what());
    }
  }
}

std::string Callbacks::unmatched_state_warning(const json::Value& states) const {
  if (!states.is_object()) return "";
  std::string missing;
  for (const auto& [key, value] : states.members) {
    bool found = false;
    for (const auto& cb : list_) found = found || cb->state_key() == key;
    if (!found) missing += (missing.empty() ? "" : ", ") + python_str_repr(key);
  }
  if (missing.empty()) return "";
  return "Be aware that when using `ckpt_path`, callbacks used to create the checkpoint need to be provided during "
         "`Trainer` instantiation. Please add the following callbacks: [" + missing + "].";
}

bool Callbacks::in_range(const Callback& cb, CallbackRange range) {
  if (range == CallbackRange::all) return true;
  return is_checkpoint(cb) == (range == CallbackRange::checkpoints);
}

#define LTRT_HOOK(name)                                                   \
  void Callbacks::name(const CallbackContext& ctx, CallbackRange range) { \
    for (const auto& cb : list_)                                          \
      if (in_range(*cb, range)) cb->name(ctx);                            \
  }
LTRT_HOOK(setup)
LTRT_HOOK(on_fit_start)
LTRT_HOOK(on_train_start)
LTRT_HOOK(on_train_epoch_start)
LTRT_HOOK(on_train_batch_start)
LTRT_HOOK(on_train_batch_end)
LTRT_HOOK(on_validation_start)
LTRT_HOOK(on_validation_epoch_start)
LTRT_HOOK(on_validation_batch_start)
LTRT_HOOK(on_validation_batch_end)
LTRT_HOOK(on_validation_epoch_end)
LTRT_HOOK(on_validation_end)
LTRT_HOOK(on_train_epoch_end)
LTRT_HOOK(on_train_end)
#undef LTRT_HOOK

void Callbacks::on_exception(const CallbackContext& ctx, const std::exception& exception, CallbackRange range) {
  for (const auto& cb : list_)
    if (in_range(*cb, range)) cb->on_exception(ctx, exception);
}

void Callbacks::teardown(const CallbackContext& ctx) {
  for (const auto& cb : list_) cb->teardown(ctx);
}

}  // namespace ltrt
