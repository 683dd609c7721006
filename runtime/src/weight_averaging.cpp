// WeightAveraging and EMAWeightAveraging with Lightning 2.6's rules (lightning/pytorch/callbacks/
// weight_averaging.py) over the backend's averaged copy of the model.
#include "ltrt/weight_averaging.hpp"

#include <limits>
#include <string>

#include "ltrt/backend.hpp"
#include "ltrt/config_reader.hpp"
#include "ltrt/error.hpp"

namespace ltrt {

namespace {

Backend& backend_of(const CallbackContext& ctx) {
  if (!ctx.backend) throw Error("WeightAveraging: the trainer gave the callback no backend to keep its averaged model on");
  return *ctx.backend;
}

// An Optional[int] argument: null (or absent) is None.
std::optional<std::int64_t> optional_integer(ConfigObject& a, const char* key) {
  const json::Value* v = a.get(key);
  if (!v || v->is_null()) return std::nullopt;
  return a.integer(key, 0, std::numeric_limits<std::int64_t>::min());
}

}  // namespace

WeightAveraging::WeightAveraging(Options o) : o_(o) {}

std::unique_ptr<WeightAveraging> WeightAveraging::read(ConfigObject& a, bool ema) {
  Options o;
  o.ema = ema;
  o.rule.ema = ema;
  // device=None: the averaged model stays on the model's device, where ltgen keeps it; the trainer
  // checks that a device named is that one (Fit's constructor, which knows where the steps run).
  if (const json::Value* device = a.get("device"); device && !device->is_null()) {
    if (!device->is_string() || device->str.empty())
      a.fail("device", "expected a device name (\"cpu\", \"cuda\", \"cuda:0\") or null, got " + describe(*device));
    o.device = device->str;
  }
  o.rule.use_buffers = a.boolean("use_buffers", true);
  if (!ema) {  // EMAWeightAveraging passes its own avg_fn: Lightning refuses these there
    a.not_yet("avg_fn", "a Python averaging function");
    a.not_yet("multi_avg_fn", "a Python averaging function");
  }
  if (ema) {
    if (const json::Value* decay = a.get("decay")) {
      if (!decay->is_number()) a.fail("decay", "expected a number in [0, 1], got " + describe(*decay));
      if (decay->num < 0.0 || decay->num > 1.0)  // torch's get_ema_avg_fn
        a.fail("decay", "Invalid decay value " + json::write(*decay) + " provided. Please provide a value in [0,1] range.");
      o.rule.decay = decay->num;
    }
    o.update_every_n_steps = a.integer("update_every_n_steps", 1, std::numeric_limits<std::int64_t>::min());
    o.update_starting_at_step = optional_integer(a, "update_starting_at_step");
    o.update_starting_at_epoch = optional_integer(a, "update_starting_at_epoch");
  }
  a.finish();
  return std::make_unique<WeightAveraging>(o);
}

json::Value WeightAveraging::state() const {
  json::Value s = json::Value::make_object();
  s.set("latest_update_step", json::Value::make_integer(latest_update_step_));
  return s;
}

void WeightAveraging::load_state(const json::Value& s) {
  const json::Value* v = s.find("latest_update_step");
  if (!v || !v->is_number() || !v->is_integer) throw Error("'latest_update_step' is missing or not an integer");
  latest_update_step_ = v->integer;
}

bool WeightAveraging::should_update(std::optional<std::int64_t> step_idx, std::optional<std::int64_t> epoch_idx) const {
  if (!o_.ema) return step_idx.has_value();  // WeightAveraging: after every optimizer step
  if (step_idx) {
    const bool meets_step = !o_.update_starting_at_step || *step_idx >= *o_.update_starting_at_step;
    const bool meets_frequency = o_.update_every_n_steps > 0 && *step_idx % o_.update_every_n_steps == 0;
    if (meets_step && meets_frequency) return true;
  }
  if (epoch_idx && o_.update_starting_at_epoch && *epoch_idx >= *o_.update_starting_at_epoch) return true;
  return false;
}

void WeightAveraging::update(const CallbackContext& ctx) {
  backend_of(ctx).average_update(n_averaged_);
  ++n_averaged_;
}

void WeightAveraging::setup(const CallbackContext& ctx) {
  backend_of(ctx).average_reset(o_.rule);
  n_averaged_ = 0;
  active_ = true;
}

void WeightAveraging::on_train_batch_end(const CallbackContext& ctx) {
  if (ctx.global_step > latest_update_step_ && should_update(ctx.global_step - 1, std::nullopt)) {
    update(ctx);
    latest_update_step_ = ctx.global_step;
  }
}

void WeightAveraging::on_train_epoch_end(const CallbackContext& ctx) {
  if (ctx.current_epoch > latest_update_epoch_ && should_update(std::nullopt, ctx.current_epoch)) {
    update(ctx);
    latest_update_epoch_ = ctx.current_epoch;
  }
}

void WeightAveraging::on_validation_epoch_start(const CallbackContext& ctx) {
  if (active_) backend_of(ctx).average_swap();
}

void WeightAveraging::on_validation_epoch_end(const CallbackContext& ctx) {
  if (active_) backend_of(ctx).average_swap();
}

void WeightAveraging::on_train_end(const CallbackContext& ctx) { backend_of(ctx).average_to_model(); }

void WeightAveraging::on_load_checkpoint(const CallbackContext& ctx, std::optional<std::int64_t> n_averaged) {
  if (!active_) return;
  backend_of(ctx).average_reset(o_.rule);  // the copy takes the state_dict now in the model
  if (n_averaged) {
    ctx.emit_info("Found current_model_state in the checkpoint. This will be used to initialize the model.");
    n_averaged_ = *n_averaged;
  } else {
    ctx.emit_warning("The checkpoint was not created with WeightAveraging. Both the current and the average model will "
                     "be initialized with state_dict.");
  }
}

}  // namespace ltrt
