// SpikeDetection with Lightning 2.x's rules (lightning/fabric/utilities/spike.py and
// lightning/pytorch/callbacks/spike.py).
#include "ltrt/spike_detection.hpp"

#include <cmath>
#include <filesystem>

#include "ltrt/config_reader.hpp"
#include "ltrt/error.hpp"
#include "ltrt/fs.hpp"
#include "ltrt/process_group.hpp"

namespace ltrt {

namespace {

// An optional float argument: a number, or null for None.
std::optional<double> optional_number(ConfigObject& a, const std::string& key, std::optional<double> def) {
  const json::Value* v = a.get(key);
  if (!v) return def;
  if (v->is_null()) return std::nullopt;
  if (!v->is_number()) a.fail(key, "expected a number or null, got " + describe(*v));
  return v->num;
}

bool ends_in_json(const std::string& path) {
  return path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
}

// json.dump(bad_batches, f, indent=4)
std::string json_list(const std::vector<std::int64_t>& items) {
  if (items.empty()) return "[]";
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ",\n    " : "\n    ") + std::to_string(items[i]);
  return out + "\n]";
}

}  // namespace

SpikeDetection::SpikeDetection(Options options)
    : o_(std::move(options)),
      slots_(static_cast<std::size_t>(o_.window), 0.0f),
      weights_(static_cast<std::size_t>(o_.window), 0.0f) {
  if (o_.window < 1) throw Error("SpikeDetection: window must be a positive integer");
}

std::unique_ptr<SpikeDetection> SpikeDetection::read(ConfigObject& a) {
  Options o;
  o.maximize = a.string("mode", "min", {"min", "max"}, false) == "max";
  // torchmetrics' Running: "Expected argument `window` to be a positive integer"
  o.window = a.integer("window", 10, 1);
  o.warmup = a.integer("warmup", 1, 0);
  o.atol = optional_number(a, "atol", std::nullopt);
  o.rtol = optional_number(a, "rtol", 2.0);
  if (const json::Value* p = a.get("exclude_batches_path"); p && !p->is_null()) {
    if (!p->is_string() || p->str.empty())
      a.fail("exclude_batches_path", "expected a path (a file ending in .json, or a folder for skip_batches.json) "
                                     "or null, got " + describe(*p));
    o.exclude_batches_path = p->str;
    // Lightning makes the file's folder with os.makedirs(os.path.dirname(path)), which fails for ''.
    const std::string& path = p->str;
    if (ends_in_json(path) && std::filesystem::path(path).parent_path().empty())
      a.fail("exclude_batches_path", "a file without a folder (" + path + ") makes Lightning's SpikeDetection fail "
                                     "to write it (os.makedirs('')): write ./" + path);
  }
  o.finite_only = a.boolean("finite_only", true);
  a.finish();
  return std::make_unique<SpikeDetection>(std::move(o));
}

float SpikeDetection::running_mean() const {
  // Running.compute: each slot's MeanMetric states reduced into the fresh ones in slot order, a
  // float32 sum of values and one of weights (1 a loss), then mean_value / weight.
  float value = 0.0f, weight = 0.0f;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    value = slots_[i] + value;
    weight = weights_[i] + weight;
  }
  return value / weight;
}

std::string SpikeDetection::skip_path(const std::string& root) const {
  std::string path = o_.exclude_batches_path.value_or((std::filesystem::path(root) / "skip_batches.json").string());
  if (!ends_in_json(path)) path = (std::filesystem::path(path) / "skip_batches.json").string();
  return path;
}

bool SpikeDetection::is_spike(float loss) const {
  const float running = running_mean();
  const float diff = loss - last_val_;
  if (o_.finite_only && !std::isfinite(loss)) return true;
  if (o_.maximize ? diff >= 0.0f : diff <= 0.0f) return false;  // _is_better
  const float distance = std::fabs(loss - running);
  // Python floats meet the 0-dim float32 tensors as float32 (torch's wrapped scalars).
  const bool beyond_atol = !o_.atol || distance >= std::fabs(static_cast<float>(*o_.atol));
  const bool beyond_rtol = !o_.rtol || distance >= std::fabs(static_cast<float>(*o_.rtol) * running);
  return beyond_atol && beyond_rtol;
}

void SpikeDetection::on_train_batch_end(const CallbackContext& ctx) {
  const float loss = ctx.batch_loss ? ctx.batch_loss() : NAN;
  const std::int64_t batch = ctx.batch_idx;
  if (!path_) path_ = skip_path(ctx.default_root_dir);  // Lightning resolves it at the first batch
  const bool spike = batch >= o_.warmup && is_spike(loss);
  if (ctx.reduce_decision(spike, false)) {  // any rank's spike stops every rank
    // The batch and the one before it: either may have led the weights astray.
    bad_batches_.push_back(batch - 1);
    bad_batches_.push_back(batch);
    const std::string& path = *path_;
    if (ctx.is_global_zero) {
      const std::filesystem::path parent = std::filesystem::path(path).parent_path();
      if (!parent.empty()) std::filesystem::create_directories(parent);
      write_file_atomic(path, json_list(bad_batches_));
    }
    // Every rank raises it at this batch (the decision is shared): the launch ends once all have
    // finished their on_exception and logs, rank 0 saying why.
    throw AgreedError("TrainingSpikeException: Training spike detected in batch " + std::to_string(batch) +
                      " (the batches to skip are listed in " + path + ")");
  }
  const bool finite_everywhere = o_.finite_only || ctx.reduce_decision(std::isfinite(loss), true);
  if (!finite_everywhere) return;
  // Running.update: a fresh MeanMetric's states for the loss, in the next slot.
  const auto slot = static_cast<std::size_t>(seen_ % o_.window);
  const bool nan = std::isnan(loss);
  if (nan && !warned_nan_ && ctx.is_global_zero) {
    ctx.emit_warning("Encountered `nan` values in tensor. Will be removed.");
    warned_nan_ = true;
  }
  slots_[slot] = nan ? 0.0f : loss;
  weights_[slot] = nan ? 0.0f : 1.0f;
  ++seen_;
  last_val_ = loss;
}

json::Value SpikeDetection::state() const {
  json::Value s = json::Value::make_object();
  s.set("last_val", state_number(last_val_));
  s.set("mode", json::Value::make_string(o_.maximize ? "max" : "min"));
  s.set("warmup", json::Value::make_integer(o_.warmup));
  s.set("atol", o_.atol ? json::Value::make_number(*o_.atol) : json::Value::make_null());
  s.set("rtol", o_.rtol ? json::Value::make_number(*o_.rtol) : json::Value::make_null());
  json::Value bad = json::Value::make_array();
  for (std::int64_t b : bad_batches_) bad.push(json::Value::make_integer(b));
  s.set("bad_batches", std::move(bad));
  const std::optional<std::string>& path = path_ ? path_ : o_.exclude_batches_path;
  s.set("bad_batches_path", path ? json::Value::make_string(*path) : json::Value::make_null());
  json::Value running = json::Value::make_object();  // torchmetrics saves none of it: ltgen's own keys
  json::Value slots = json::Value::make_array(), weights = json::Value::make_array();
  for (float v : slots_) slots.push(state_number(v));
  for (float w : weights_) weights.push(state_number(w));
  running.set("slots", std::move(slots));
  running.set("weights", std::move(weights));
  running.set("seen", json::Value::make_integer(seen_));
  s.set("running", std::move(running));
  s.set("mean", json::Value::make_object());
  return s;
}

void SpikeDetection::load_state(const json::Value& s) {
  const json::Value* last = s.find("last_val");
  const json::Value* bad = s.find("bad_batches");
  const json::Value* running = s.find("running");
  const json::Value* slots = running ? running->find("slots") : nullptr;
  const json::Value* weights = running ? running->find("weights") : nullptr;
  const json::Value* seen = running ? running->find("seen") : nullptr;
  if (!last || !bad || !bad->is_array() || !slots || !slots->is_array() || !weights || !weights->is_array() ||
      weights->items.size() != slots->items.size() || !seen || !seen->is_integer || seen->integer < 0)
    throw Error("SpikeDetection state: 'last_val', 'bad_batches' or 'running' (slots, weights, seen) is missing or "
                "malformed");
  if (slots->items.size() != slots_.size())
    throw Error("SpikeDetection state: the checkpoint's window holds " + std::to_string(slots->items.size()) +
                " losses, this run's window is " + std::to_string(slots_.size()));
  last_val_ = static_cast<float>(read_state_number(*last, "SpikeDetection state 'last_val'"));
  bad_batches_.clear();
  for (const json::Value& b : bad->items) {
    if (!b.is_integer) throw Error("SpikeDetection state: 'bad_batches' holds " + describe(b));
    bad_batches_.push_back(b.integer);
  }
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    slots_[i] = static_cast<float>(read_state_number(slots->items[i], "SpikeDetection state 'running'"));
    weights_[i] = static_cast<float>(read_state_number(weights->items[i], "SpikeDetection state 'running'"));
  }
  seen_ = seen->integer;
}

}  // namespace ltrt
