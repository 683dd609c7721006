// Checkpoint and weight file I/O on top of safetensors.
#include "ltrt/checkpoint.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "ltrt/arena.hpp"
#include "ltrt/averaged_model.hpp"
#include "ltrt/crc32c.hpp"
#include "ltrt/error.hpp"
#include "ltrt/json.hpp"
#include "ltrt/optimizer.hpp"
#include "ltrt/safetensors.hpp"

namespace ltrt {
namespace {

constexpr const char* kStatePrefix = "state_dict.";
constexpr const char* kOptimizerPrefix = "optimizer.";
constexpr const char* kLbfgsPrefix = "optimizer.lbfgs.";
constexpr const char* kCurrentPrefix = "current_model_state.";  // WeightAveraging's (Lightning's key)
constexpr const char* kAveragePrefix = "average_model_state.";  // StochasticWeightAveraging's (its state's key)

std::vector<std::int64_t> shape_of(const TensorRef& t) { return std::vector<std::int64_t>(t.shape, t.shape + t.rank); }

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// __metadata__["checksum"]: "crc32c:XXXXXXXX" over every tensor's name, dtype, shape and bytes (in file
// order) and every other metadata entry (by key), so that a bit flipped or bytes cut anywhere after
// the file was written are caught when it is loaded (safetensors has no checksum of its own).
constexpr const char* kChecksumKey = "checksum";

class ContentCrc {
 public:
  void tensor(const std::string& name, DType dtype, const std::vector<std::int64_t>& shape, const void* data,
              std::size_t bytes) {
    text(name);
    integer(static_cast<std::int64_t>(dtype));
    integer(static_cast<std::int64_t>(shape.size()));
    for (std::int64_t d : shape) integer(d);
    crc_ = crc32c(data, bytes, crc_);
  }
  void metadata(std::map<std::string, std::string> entries) {
    entries.erase(kChecksumKey);
    for (const auto& [k, v] : entries) {
      text(k);
      text(v);
    }
  }
  std::string value() const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "crc32c:%08x", static_cast<unsigned>(crc_));
    return buf;
  }

 private:
  void text(const std::string& s) { crc_ = crc32c(s.c_str(), s.size() + 1, crc_); }
  void integer(std::int64_t v) { crc_ = crc32c(&v, sizeof v, crc_); }
  std::uint32_t crc_ = 0;
};

// Files without a checksum (written by hand, or by safetensors) are taken as they are.
void verify_checksum(const std::string& path, const SafeTensorsFile& file) {
  const std::string* stored = file.find_metadata(kChecksumKey);
  if (stored == nullptr) return;
  ContentCrc crc;
  for (const SafeTensor& t : file.tensors) crc.tensor(t.name, t.dtype, t.shape, t.data.data(), t.data.size());
  crc.metadata(std::map<std::string, std::string>(file.metadata.begin(), file.metadata.end()));
  if (crc.value() != *stored)
    throw Error(path + ": corrupted checkpoint: its contents give checksum " + crc.value() + ", the file records " +
                *stored + " (the file was changed or damaged after it was written)");
}

// Copies a float32 or float64 tensor into float32 storage after checking its shape.
void copy_float_tensor(const std::string& path, const SafeTensor& t, const std::vector<std::int64_t>& shape,
                       float* dst, bool allow_f64) {
  if (t.shape != shape) {
    throw Error(path + ": tensor '" + t.name + "' has shape " + shape_text(t.shape) + ", the model expects " +
                shape_text(shape));
  }
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  if (t.dtype == DType::f32) {
    std::memcpy(dst, t.data.data(), static_cast<std::size_t>(n) * sizeof(float));
  } else if (t.dtype == DType::f64 && allow_f64) {
    for (std::int64_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, t.data.data() + i * 8, 8);
      dst[i] = static_cast<float>(v);
    }
  } else {
    throw Error(path + ": tensor '" + t.name + "' has dtype " + safetensors_dtype(t.dtype) + ", expected " +
                (allow_f64 ? "F32 or F64" : "F32"));
  }
}

// A state buffer (ModelDef::state): float32 (float64 converted where allowed) or int64.
void copy_state_tensor(const std::string& path, const SafeTensor& t, const TensorRef& ref, std::byte* arena,
                       bool allow_f64) {
  if (ref.dtype != DType::i64) {
    copy_float_tensor(path, t, shape_of(ref), reinterpret_cast<float*>(arena + ref.offset), allow_f64);
    return;
  }
  if (t.shape != shape_of(ref)) {
    throw Error(path + ": tensor '" + t.name + "' has shape " + shape_text(t.shape) + ", the model expects " +
                shape_text(shape_of(ref)));
  }
  if (t.dtype != DType::i64)
    throw Error(path + ": tensor '" + t.name + "' has dtype " + safetensors_dtype(t.dtype) + ", expected I64");
  std::memcpy(arena + ref.offset, t.data.data(), static_cast<std::size_t>(ref.numel()) * sizeof(std::int64_t));
}

const std::string& require_metadata(const std::string& path, const SafeTensorsFile& file, const char* key) {
  const std::string* v = file.find_metadata(key);
  if (v == nullptr) {
    throw Error(path + ": not an ltgen checkpoint (no '" + key + "' in __metadata__)");
  }
  return *v;
}

json::Value parse_metadata(const std::string& path, const std::string& key, const std::string& text) {
  try {
    // (a diverged fit's values, LBFGS's step length or last loss, are written as NaN or Infinity)
    json::ParseOptions options;
    options.allow_nan = true;
    return json::parse(text, options);
  } catch (const Error& e) {
    throw Error(path + ": __metadata__ '" + key + "' is not valid JSON: " + e.what());
  }
}

std::int64_t metadata_integer(const std::string& path, const SafeTensorsFile& file, const char* key) {
  const json::Value v = parse_metadata(path, key, require_metadata(path, file, key));
  if (!v.is_number() || !v.is_integer || v.integer < 0) {
    throw Error(path + ": __metadata__ '" + key + "' must be a non-negative integer");
  }
  return v.integer;
}

// The hooks' entries ("user"), an object of strings; empty when the file has none.
std::map<std::string, std::string> read_user_entries(const std::string& path, const SafeTensorsFile& file) {
  std::map<std::string, std::string> entries;
  const std::string* text = file.find_metadata("user");
  if (!text) return entries;
  const json::Value user = parse_metadata(path, "user", *text);
  if (!user.is_object()) throw Error(path + ": __metadata__ 'user' must be an object of strings");
  for (const auto& [key, value] : user.members) {
    if (!value.is_string()) throw Error(path + ": __metadata__ 'user' entry '" + key + "' is not a string");
    entries[key] = value.str;
  }
  return entries;
}

// The text source's vocabulary, written as a JSON list of byte values; "" when the file has none.
std::string read_vocabulary(const std::string& path, const SafeTensorsFile& file) {
  const std::string* text = file.find_metadata("vocabulary");
  if (text == nullptr) return "";
  const json::Value list = parse_metadata(path, "vocabulary", *text);
  std::string vocabulary;
  for (const json::Value& b : list.items) {
    if (!b.is_integer || b.integer < 0 || b.integer > 255)
      throw Error(path + ": __metadata__ 'vocabulary' must be a list of byte values 0..255");
    vocabulary.push_back(static_cast<char>(b.integer));
  }
  if (!list.is_array() || vocabulary.empty())
    throw Error(path + ": __metadata__ 'vocabulary' must be a non-empty list of byte values 0..255");
  return vocabulary;
}

std::string member_string(const std::string& path, const json::Value& obj, const char* outer, const char* key) {
  const json::Value* v = obj.find(key);
  if (v == nullptr || !v->is_string()) {
    throw Error(path + ": __metadata__ '" + outer + "' has no string '" + key + "'");
  }
  return v->str;
}

// The first places where two specs differ, as JSON paths: ": model.layers[0].out_features is 4 here, 8 in the
// checkpoint".
void differences(const json::Value& ours, const json::Value& theirs, const std::string& path,
                 std::vector<std::string>& out) {
  if (out.size() >= 3) return;
  const std::string where = path.empty() ? "(top level)" : path;
  if (ours.kind != theirs.kind) {
    out.push_back(where + " is " + json::write(ours) + " here, " + json::write(theirs) + " in the checkpoint");
    return;
  }
  if (ours.kind == json::Kind::object) {
    for (const auto& [key, v] : ours.members) {
      const json::Value* t = theirs.find(key);
      const std::string p = path.empty() ? key : path + "." + key;
      if (!t) out.push_back(p + " is set here but not in the checkpoint's spec");
      else differences(v, *t, p, out);
    }
    for (const auto& [key, v] : theirs.members)
      if (!ours.find(key)) out.push_back((path.empty() ? key : path + "." + key) + " is in the checkpoint's spec only");
  } else if (ours.kind == json::Kind::array) {
    if (ours.items.size() != theirs.items.size()) {
      out.push_back(where + " has " + std::to_string(ours.items.size()) + " entries here, " +
                    std::to_string(theirs.items.size()) + " in the checkpoint");
      return;
    }
    for (std::size_t i = 0; i < ours.items.size(); ++i)
      differences(ours.items[i], theirs.items[i], path + "[" + std::to_string(i) + "]", out);
  } else if (json::write(ours) != json::write(theirs)) {
    out.push_back(where + " is " + json::write(ours) + " here, " + json::write(theirs) + " in the checkpoint");
  }
}

std::string spec_difference(const std::string& theirs, const std::string& ours) {
  std::vector<std::string> found;
  try {
    differences(json::parse(ours), json::parse(theirs), "", found);
  } catch (const json::ParseError& e) {
    return ": its hparams are not valid JSON (" + std::string(e.what()) + ")";
  }
  if (found.empty()) return " (the specs differ only in formatting)";
  std::string s = ": ";
  for (std::size_t i = 0; i < found.size(); ++i) s += (i ? "; " : "") + found[i];
  return s;
}

// LBFGS's state from the "optimizer" metadata's "lbfgs" and the optimizer.lbfgs.* tensors, which
// `take` finds (and marks as read).
template <class Take>
LbfgsState read_lbfgs_state(const std::string& path, const ModelDef& model, const json::Value& optimizer,
                            const Take& take) {
  const json::Value* v = optimizer.find("lbfgs");
  const std::string where = path + ": __metadata__ 'optimizer' 'lbfgs'";
  if (v == nullptr || !v->is_object()) throw Error(where + " is missing (LBFGS's state)");
  auto count = [&](const char* key) {
    const json::Value* c = v->find(key);
    if (c == nullptr || !c->is_integer || c->integer < 0)
      throw Error(where + " has no non-negative integer '" + key + "'");
    return c->integer;
  };
  LbfgsState l;
  l.func_evals = count("func_evals");
  l.n_iter = count("n_iter");
  const json::Value* t = v->find("t");
  if (t == nullptr) throw Error(where + " has no 't' (null before LBFGS's first iteration)");
  // A step that ran an iteration leaves a direction; iterations without one: saved inside the first step.
  l.has_direction = !t->is_null();
  if (l.has_direction && l.n_iter == 0)
    throw Error(where + " has a step length but no iteration (n_iter 0): not LBFGS's state");
  if (!l.has_direction && l.n_iter > 0)
    throw Error(where + " was saved inside LBFGS's first step (n_iter " + std::to_string(l.n_iter) +
                ", no direction yet), which cannot resume (torch's LBFGS cannot either): resume from a "
                "checkpoint saved after a step");
  if (!l.has_direction) return l;
  auto number = [&](const char* key) {
    const json::Value* x = v->find(key);
    if (x == nullptr || !x->is_number()) throw Error(where + " has no number '" + key + "'");
    return x->num;
  };
  l.t = number("t");
  l.h_diag = static_cast<float>(number("H_diag"));
  l.prev_loss = number("prev_loss");
  const std::int64_t history = count("history");
  if (history > model.optimizer.history_size)
    throw Error(where + " holds " + std::to_string(history) + " updates, more than history_size " +
                std::to_string(model.optimizer.history_size));
  const std::int64_t n = trainable_elements(model);
  auto flat = [&](const std::string& name) {
    std::vector<float> values(static_cast<std::size_t>(n));
    copy_float_tensor(path, take(kLbfgsPrefix + name), {n}, values.data(), false);
    return values;
  };
  l.d = flat("d");
  l.prev_flat_grad = flat("prev_flat_grad");
  for (std::int64_t i = 0; i < history; ++i) {
    l.old_dirs.push_back(flat("old_dirs." + std::to_string(i)));
    l.old_stps.push_back(flat("old_stps." + std::to_string(i)));
  }
  if (history > 0) {
    std::vector<float> ro(static_cast<std::size_t>(history));
    copy_float_tensor(path, take(kLbfgsPrefix + std::string("ro")), {history}, ro.data(), false);
    l.ro.assign(ro.begin(), ro.end());
  }
  return l;
}

}  // namespace

void save_checkpoint(const std::string& path, const ModelDef& model, const std::byte* arena,
                     const TrainState& state) {
  std::vector<SafeTensorView> views;
  views.reserve(static_cast<std::size_t>(model.num_params) * (2 + model.num_slots) + 2 * model.num_state);
  // The model's parameters and buffers under `prefix`, from the arena or from a copy in
  // model_state_bytes' layout.
  auto model_views = [&](const char* prefix, const std::byte* copy) {
    for (int p = 0; p < model.num_params; ++p) {
      const ParamDef& param = model.params[p];
      const std::byte* at = copy ? copy + param.flat_index * sizeof(float) : arena + param.value.offset;
      views.push_back({prefix + std::string(param.value.name), DType::f32, shape_of(param.value), at});
    }
    for (int k = 0; k < model.num_state; ++k) {
      const TensorRef& ref = model.state[k].value;
      const std::byte* at = copy ? copy + model_state_offset(model, k) : arena + ref.offset;
      views.push_back({prefix + std::string(ref.name), ref.dtype, shape_of(ref), at});
    }
  };
  const bool averaging = state.averaging && !state.weights_only;
  if (averaging && state.averaging->values.size() != model_state_bytes(model))
    throw Error("internal: the averaged model's copy has " + std::to_string(state.averaging->values.size()) +
                " bytes, the model's state " + std::to_string(model_state_bytes(model)));
  const bool stochastic = averaging && state.averaging->stochastic;
  model_views(kStatePrefix, averaging && !stochastic ? state.averaging->values.data() : nullptr);
  if (averaging) {
    if (stochastic)
      model_views(kAveragePrefix, state.averaging->values.data());
    else
      model_views(kCurrentPrefix, nullptr);
  }
  for (int p = 0; p < model.num_params && !state.weights_only; ++p) {
    const ParamDef& param = model.params[p];
    if (is_frozen(model, param)) continue;  // never stepped: no optimizer state, as torch.optim's
    for (int k = 0; k < model.num_slots; ++k) {
      views.push_back({kOptimizerPrefix + std::string(param.value.name) + "." + model.slot_names[k], DType::f32,
                       shape_of(param.value), slot_region(model, arena, k) + param.flat_index});
    }
  }

  std::vector<float> lbfgs_ro;  // (the views point into it until the file is written)
  if (state.lbfgs && state.lbfgs->has_direction && !state.weights_only) {
    const LbfgsState& l = *state.lbfgs;
    const std::vector<std::int64_t> flat = {static_cast<std::int64_t>(l.d.size())};
    views.push_back({kLbfgsPrefix + std::string("d"), DType::f32, flat, l.d.data()});
    views.push_back({kLbfgsPrefix + std::string("prev_flat_grad"), DType::f32, flat, l.prev_flat_grad.data()});
    for (std::size_t i = 0; i < l.old_dirs.size(); ++i) {
      views.push_back(
          {kLbfgsPrefix + std::string("old_dirs.") + std::to_string(i), DType::f32, flat, l.old_dirs[i].data()});
      views.push_back(
          {kLbfgsPrefix + std::string("old_stps.") + std::to_string(i), DType::f32, flat, l.old_stps[i].data()});
    }
    lbfgs_ro.assign(l.ro.begin(), l.ro.end());
    if (!lbfgs_ro.empty())
      views.push_back({kLbfgsPrefix + std::string("ro"),
                       DType::f32,
                       {static_cast<std::int64_t>(lbfgs_ro.size())},
                       lbfgs_ro.data()});
  }

  json::Value optimizer = json::Value::make_object();
  optimizer.set("type", json::Value::make_string(optimizer_name(model.optimizer.kind)));
  optimizer.set("step", json::Value::make_integer(state.optimizer_step));
  if (state.lbfgs) {
    const LbfgsState& l = *state.lbfgs;
    json::Value v = json::Value::make_object();
    v.set("func_evals", json::Value::make_integer(l.func_evals));
    v.set("n_iter", json::Value::make_integer(l.n_iter));
    const bool any = l.has_direction;
    v.set("t", any ? json::Value::make_number(l.t) : json::Value());
    v.set("H_diag", any ? json::Value::make_number(l.h_diag) : json::Value());
    v.set("prev_loss", any ? json::Value::make_number(l.prev_loss) : json::Value());
    v.set("history", json::Value::make_integer(any ? static_cast<std::int64_t>(l.old_dirs.size()) : 0));
    optimizer.set("lbfgs", std::move(v));
  }
  if (!state.group_states.empty()) {  // NAdam's mu_product, ASGD's eta: each group's (a float32, exact as a double)
    json::Value values = json::Value::make_array();
    for (float v : state.group_states) values.push(json::Value::make_number(v));
    optimizer.set(group_state_name(model.optimizer.kind), std::move(values));
  }
  if (model.backbone_group)  // BackboneFinetuning: the step the backbone's group joined at (null: not yet)
    optimizer.set("backbone_added_at", state.backbone_added_at < 0 ? json::Value()
                                                                  : json::Value::make_integer(state.backbone_added_at));
  if (!state.lrs.empty()) {
    json::Value lrs = json::Value::make_array();
    for (double lr : state.lrs) lrs.push(json::Value::make_number(lr));
    optimizer.set("lr", std::move(lrs));
  }
  json::Value rng = json::Value::make_object();
  rng.set("data", json::Value::make_string(state.rng_data));
  rng.set("dropout", json::Value::make_string(state.rng_dropout));

  std::vector<std::pair<std::string, std::string>> metadata = {
      {"format", "pt"},
      {"epoch", std::to_string(state.epoch)},
      {"global_step", std::to_string(state.global_step)},
      {"spec_hash", json::quote(model.spec_hash ? model.spec_hash : "")},
      {"hparams", model.spec_json ? model.spec_json : "{}"},
  };
  if (!state.vocabulary.empty()) {
    // The text source's tokens: the byte values, as a JSON list (token i is byte list[i]).
    std::string list = "[";
    for (std::size_t i = 0; i < state.vocabulary.size(); ++i)
      list += (i ? ", " : "") + std::to_string(static_cast<unsigned char>(state.vocabulary[i]));
    metadata.push_back({"vocabulary", list + "]"});
  }
  if (!state.user.empty()) {
    json::Value user = json::Value::make_object();
    for (const auto& [key, value] : state.user) user.set(key, json::Value::make_string(value));
    metadata.push_back({"user", json::write(user)});
  }
  if (state.weights_only) {
    metadata.push_back({"weights_only", "true"});
  } else {
    metadata.push_back({"optimizer", json::write(optimizer)});
    metadata.push_back({"rng_states", json::write(rng)});
    metadata.push_back({"loops", json::write(state.loops)});
    metadata.push_back({"lr_schedulers", json::write(state.lr_schedulers)});
    metadata.push_back({"callbacks", json::write(state.callbacks)});
    if (averaging && !stochastic)
      metadata.push_back({"averaging_state", "{\"n_averaged\": " + std::to_string(state.averaging->n_averaged) + "}"});
    if (state.grad_scaler) {  // GradScaler.state_dict()'s keys
      json::Value scaler = json::Value::make_object();
      scaler.set("scale", json::Value::make_number(state.grad_scaler->scale));
      scaler.set("growth_factor", json::Value::make_number(GradScaler::kGrowthFactor));
      scaler.set("backoff_factor", json::Value::make_number(GradScaler::kBackoffFactor));
      scaler.set("growth_interval", json::Value::make_integer(GradScaler::kGrowthInterval));
      scaler.set("_growth_tracker", json::Value::make_integer(state.grad_scaler->growth_tracker));
      metadata.push_back({"MixedPrecision", json::write(scaler)});
    }
  }
  ContentCrc crc;
  for (const SafeTensorView& v : views) {
    std::size_t n = dtype_size(v.dtype);
    for (std::int64_t d : v.shape) n *= static_cast<std::size_t>(d);
    crc.tensor(v.name, v.dtype, v.shape, v.data, n);
  }
  crc.metadata(std::map<std::string, std::string>(metadata.begin(), metadata.end()));
  metadata.push_back({kChecksumKey, crc.value()});
  write_safetensors(path, views, metadata);
}

TrainState load_checkpoint(const std::string& path, const ModelDef& model, std::byte* arena) {
  const SafeTensorsFile file = read_safetensors(path);
  verify_checksum(path, file);

  const json::Value hash = parse_metadata(path, "spec_hash", require_metadata(path, file, "spec_hash"));
  const std::string want_hash = model.spec_hash ? model.spec_hash : "";
  if (!hash.is_string() || hash.str != want_hash) {
    const std::string* hparams = file.find_metadata("hparams");
    throw Error(path + ": checkpoint was written by a program generated from a different spec" +
                (hparams ? spec_difference(*hparams, model.spec_json ? model.spec_json : "{}") : std::string()) +
                " (spec_hash " + (hash.is_string() ? hash.str : json::write(hash)) + ", this program's is " +
                want_hash + ")");
  }
  if (file.find_metadata("weights_only"))
    throw Error(path + ": a weights-only checkpoint (save_weights_only=True) cannot resume training: it has no "
                       "optimizer or loop state; use --init_weights to start from its weights");

  TrainState state;
  state.epoch = metadata_integer(path, file, "epoch");
  state.global_step = metadata_integer(path, file, "global_step");
  const json::Value optimizer = parse_metadata(path, "optimizer", require_metadata(path, file, "optimizer"));
  const json::Value* step = optimizer.find("step");
  const json::Value* type = optimizer.find("type");
  if (step == nullptr || !step->is_integer || step->integer < 0) {
    throw Error(path + ": __metadata__ 'optimizer' has no non-negative integer 'step'");
  }
  if (type == nullptr || !type->is_string() || type->str != optimizer_name(model.optimizer.kind)) {
    throw Error(path + ": checkpoint optimizer is " + (type && type->is_string() ? type->str : "unknown") +
                ", this program's is " + optimizer_name(model.optimizer.kind));
  }
  state.optimizer_step = step->integer;
  if (const char* name = group_state_name(model.optimizer.kind)) {  // NAdam's mu_product, ASGD's eta
    const std::string key = name, kind = optimizer_name(model.optimizer.kind);
    const json::Value* values = optimizer.find(key);
    if (values == nullptr || !values->is_array())
      throw Error(path + ": __metadata__ 'optimizer' has no '" + key + "' list (" + kind + "'s state per parameter group)");
    for (const json::Value& v : values->items) {
      if (!v.is_number()) throw Error(path + ": __metadata__ 'optimizer' '" + key + "' holds a non-number");
      state.group_states.push_back(static_cast<float>(v.num));
    }
    const std::size_t groups = model.num_param_groups == 0 ? 1 : static_cast<std::size_t>(model.num_param_groups);
    if (state.group_states.size() != groups)
      throw Error(path + ": __metadata__ 'optimizer' has " + std::to_string(state.group_states.size()) + " " + key +
                  " values, one per parameter group; this program's " + kind + " has " + std::to_string(groups));
  }
  if (model.backbone_group) {
    const json::Value* at = optimizer.find("backbone_added_at");
    if (at == nullptr || !(at->is_null() || (at->is_integer && at->integer >= 0 && at->integer <= state.optimizer_step)))
      throw Error(path + ": __metadata__ 'optimizer' has no 'backbone_added_at' (null, or the step at which "
                         "BackboneFinetuning added the backbone's parameter group): it was not written by this "
                         "program's model; give a checkpoint of it");
    state.backbone_added_at = at->is_null() ? -1 : at->integer;
  }
  if (const json::Value* lrs = optimizer.find("lr")) {  // absent from earlier ltgen versions' checkpoints
    const std::size_t groups = model.num_param_groups == 0 ? 1 : static_cast<std::size_t>(model.num_param_groups);
    if (!lrs->is_array() || lrs->items.size() != groups)
      throw Error(path + ": __metadata__ 'optimizer' 'lr' is not a list of " + std::to_string(groups) +
                  " learning rates, one per parameter group");
    for (const json::Value& lr : lrs->items) {
      if (!lr.is_number() || !std::isfinite(lr.num) || lr.num < 0)
        throw Error(path + ": __metadata__ 'optimizer' 'lr' holds something other than a finite learning rate >= 0");
      state.lrs.push_back(lr.num);
    }
  }
  const json::Value rng = parse_metadata(path, "rng_states", require_metadata(path, file, "rng_states"));
  state.rng_data = member_string(path, rng, "rng_states", "data");
  state.rng_dropout = member_string(path, rng, "rng_states", "dropout");
  state.vocabulary = read_vocabulary(path, file);
  state.user = read_user_entries(path, file);
  // Loop, scheduler and callback state: null when absent (the trainer says what it misses).
  for (auto [key, into] : {std::pair{"loops", &state.loops}, std::pair{"lr_schedulers", &state.lr_schedulers},
                           std::pair{"callbacks", &state.callbacks}})
    if (const std::string* text = file.find_metadata(key)) *into = parse_metadata(path, key, *text);
  if (const std::string* text = file.find_metadata("MixedPrecision")) {
    const json::Value scaler = parse_metadata(path, "MixedPrecision", *text);
    const json::Value* scale = scaler.find("scale");
    const json::Value* tracker = scaler.find("_growth_tracker");
    if (scale == nullptr || !scale->is_number() || !(scale->num > 0) || !std::isfinite(scale->num) ||
        tracker == nullptr || !tracker->is_integer || tracker->integer < 0)
      throw Error(path + ": __metadata__ 'MixedPrecision' needs a positive finite 'scale' and a non-negative integer "
                         "'_growth_tracker' (GradScaler's state)");
    // Lightning's GradScaler has torch's defaults; a scaler made otherwise would step differently.
    for (auto [key, want] : {std::pair{"growth_factor", GradScaler::kGrowthFactor},
                             std::pair{"backoff_factor", GradScaler::kBackoffFactor},
                             std::pair{"growth_interval", static_cast<double>(GradScaler::kGrowthInterval)}}) {
      const json::Value* v = scaler.find(key);
      if (v != nullptr && !(v->is_number() && v->num == want))
        throw Error(path + ": __metadata__ 'MixedPrecision' has " + key + " " + json::write(*v) + " where the program's "
                    "GradScaler has " + json::write(json::Value::make_number(want)) + " (Lightning's defaults)");
    }
    state.grad_scaler = GradScaler{static_cast<float>(scale->num), tracker->integer};
  }

  // Every expected tensor, then anything left over.
  std::map<std::string, bool> seen;
  for (const SafeTensor& t : file.tensors) seen.emplace(t.name, false);
  auto take = [&](const std::string& name) -> const SafeTensor& {
    const SafeTensor* t = file.find(name);
    if (t == nullptr) throw Error(path + ": missing tensor '" + name + "'");
    seen[name] = true;
    return *t;
  };
  for (int p = 0; p < model.num_params; ++p) {
    const ParamDef& param = model.params[p];
    const std::vector<std::int64_t> shape = shape_of(param.value);
    copy_float_tensor(path, take(kStatePrefix + std::string(param.value.name)), shape,
                      reinterpret_cast<float*>(arena + param.value.offset), false);
    for (int k = 0; k < model.num_slots && !is_frozen(model, param); ++k) {
      copy_float_tensor(path, take(kOptimizerPrefix + std::string(param.value.name) + "." + model.slot_names[k]),
                        shape, slot_region(model, arena, k) + param.flat_index, false);
    }
  }
  for (int k = 0; k < model.num_state; ++k) {
    const TensorRef& ref = model.state[k].value;
    copy_state_tensor(path, take(kStatePrefix + std::string(ref.name)), ref, arena, false);
  }
  if (model.optimizer.kind == OptimizerKind::lbfgs)
    state.lbfgs = std::make_shared<const LbfgsState>(read_lbfgs_state(path, model, optimizer, take));
  // An averaging callback's second model, `prefix`.*, in model_state_bytes' layout.
  auto model_copy = [&](const char* prefix) {
    std::vector<std::byte> values(model_state_bytes(model));
    for (int p = 0; p < model.num_params; ++p) {
      const ParamDef& param = model.params[p];
      copy_float_tensor(path, take(prefix + std::string(param.value.name)), shape_of(param.value),
                        reinterpret_cast<float*>(values.data()) + param.flat_index, false);
    }
    for (int k = 0; k < model.num_state; ++k) {
      TensorRef ref = model.state[k].value;
      ref.offset = model_state_offset(model, k);  // where the copy keeps it
      copy_state_tensor(path, take(prefix + std::string(ref.name)), ref, values.data(), false);
    }
    return values;
  };
  if (const std::string* text = file.find_metadata("averaging_state")) {
    // WeightAveraging's: the model's own values beside the averaged state_dict.
    const json::Value averaging = parse_metadata(path, "averaging_state", *text);
    const json::Value* n = averaging.find("n_averaged");
    if (n == nullptr || !n->is_integer || n->integer < 0)
      throw Error(path + ": __metadata__ 'averaging_state' has no non-negative integer 'n_averaged'");
    state.averaging = AveragingState{model_copy(kCurrentPrefix), n->integer};
  }
  if (model.num_params > 0 && file.find(kAveragePrefix + std::string(model.params[0].value.name)) != nullptr) {
    // StochasticWeightAveraging's averaged model (its n_averaged is in the callback's state).
    if (state.averaging) throw Error(path + ": holds both current_model_state and average_model_state");
    state.averaging = AveragingState{model_copy(kAveragePrefix), 0, true};
  }
  for (const auto& [name, used] : seen) {
    if (!used) throw Error(path + ": unexpected tensor '" + name + "' (not in this model's state)");
  }
  return state;
}

std::map<std::string, std::string> checkpoint_user_entries(const std::string& path) {
  const SafeTensorsFile file = read_safetensors(path);
  verify_checksum(path, file);
  return read_user_entries(path, file);
}

std::string checkpoint_vocabulary(const std::string& path) {
  const SafeTensorsFile file = read_safetensors(path);
  verify_checksum(path, file);
  return read_vocabulary(path, file);
}

void load_weights(const std::string& path, const ModelDef& model, std::byte* arena) {
  const SafeTensorsFile file = read_safetensors(path);
  verify_checksum(path, file);
  const bool ltgen_checkpoint = file.find_metadata("spec_hash") != nullptr;

  // Parameter name -> tensor, accepting both naming forms.
  std::map<std::string, const SafeTensor*> by_param;
  for (const SafeTensor& t : file.tensors) {
    std::string name = t.name;
    if (starts_with(name, kStatePrefix)) {
      name = name.substr(std::strlen(kStatePrefix));
    } else if (ltgen_checkpoint && (starts_with(name, kOptimizerPrefix) || starts_with(name, kCurrentPrefix) ||
                                    starts_with(name, kAveragePrefix))) {
      continue;  // optimizer state, or an averaging callback's second model: not the weights
    }
    if (!by_param.emplace(name, &t).second) {
      throw Error(path + ": parameter '" + name + "' appears twice (as '" + by_param[name]->name + "' and '" + t.name +
                  "')");
    }
  }
  for (int p = 0; p < model.num_params; ++p) {
    const ParamDef& param = model.params[p];
    auto it = by_param.find(param.value.name);
    if (it == by_param.end()) throw Error(path + ": missing tensor '" + param.value.name + "'");
    copy_float_tensor(path, *it->second, shape_of(param.value), reinterpret_cast<float*>(arena + param.value.offset),
                      true);
    by_param.erase(it);
  }
  for (int k = 0; k < model.num_tied; ++k) {  // torch's state_dict shows a tied weight under both names
    const std::string alias = model.tied_names[2 * k], owner = model.tied_names[2 * k + 1];
    auto it = by_param.find(alias);
    if (it == by_param.end()) continue;
    const ParamDef* param = nullptr;
    for (int p = 0; p < model.num_params; ++p)
      if (owner == model.params[p].value.name) param = &model.params[p];
    if (param == nullptr) throw Error("internal: tied weight '" + alias + "' has no owner '" + owner + "'");
    std::vector<float> values(static_cast<std::size_t>(param->value.numel()));
    copy_float_tensor(path, *it->second, shape_of(param->value), values.data(), true);
    const float* loaded = reinterpret_cast<const float*>(arena + param->value.offset);
    if (!std::equal(values.begin(), values.end(), loaded))
      throw Error(path + ": '" + alias + "' and '" + owner + "' are one tied weight in this model, but the file holds "
                  "different values for them");
    by_param.erase(it);
  }
  for (int k = 0; k < model.num_loss_buffers; ++k) {
    // The loss's constants (class weights), buffers of torch's state_dict: the spec's, which the file must repeat.
    const LossBuffer& buffer = model.loss_buffers[k];
    auto it = by_param.find(buffer.name);
    if (it == by_param.end()) continue;  // ltgen's own files do not hold them
    std::vector<float> values(static_cast<std::size_t>(buffer.size));
    copy_float_tensor(path, *it->second, {buffer.size}, values.data(), true);
    if (!std::equal(values.begin(), values.end(), buffer.values))
      throw Error(path + ": '" + buffer.name + "' holds other values than the spec's loss (its \"" +
                  std::string(buffer.name).substr(std::strlen("loss.")) + "\"); the spec's are the ones trained with: "
                  "change the spec or drop the tensor");
    by_param.erase(it);
  }
  for (int k = 0; k < model.num_state; ++k) {  // buffers: a torch state_dict has them too
    const TensorRef& ref = model.state[k].value;
    auto it = by_param.find(ref.name);
    if (it == by_param.end()) throw Error(path + ": missing tensor '" + std::string(ref.name) + "'");
    copy_state_tensor(path, *it->second, ref, arena, true);
    by_param.erase(it);
  }
  if (!by_param.empty()) {
    std::string names;
    for (const auto& kv : by_param) names += (names.empty() ? "'" : ", '") + kv.second->name + "'";
    throw Error(path + ": unexpected tensor" + (by_param.size() > 1 ? "s " : " ") + names +
                " (not parameters of this model)");
  }
}

}  // namespace ltrt
