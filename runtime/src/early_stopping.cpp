// EarlyStopping with Lightning 2.x's rules (lightning/pytorch/callbacks/early_stopping.py).
#include "ltrt/early_stopping.hpp"

#include <cmath>
#include <cstdio>
#include <limits>

#include "ltrt/config_reader.hpp"
#include "ltrt/error.hpp"
#include "ltrt/python_repr.hpp"

namespace ltrt {

namespace {

// f"{x:.3f}" of a float (Python writes inf / -inf / nan).
std::string fixed3(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", x);
  return buf;
}

// torch.lt / torch.gt on float32 values.
bool monitor_op(const std::string& mode, float a, float b) { return mode == "min" ? a < b : a > b; }

}  // namespace

EarlyStopping::EarlyStopping(Options options) : o_(std::move(options)) {
  if (o_.mode != "min" && o_.mode != "max") throw Error("`mode` can be min, max, got " + o_.mode);
  // self.min_delta *= 1 if self.monitor_op == torch.gt else -1
  min_delta_ = o_.mode == "max" ? o_.min_delta : -o_.min_delta;
  // best_score = torch.tensor(torch.inf) for "min", -inf for "max"
  best_score_ = o_.mode == "min" ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
  check_on_train_epoch_end_ = o_.check_on_train_epoch_end;
}

std::unique_ptr<EarlyStopping> EarlyStopping::read(ConfigObject& a) {
  Options o;
  const json::Value& monitor = a.require("monitor");
  if (!monitor.is_string()) a.fail("monitor", "expected a string (the logged metric's name), got " + describe(monitor));
  o.monitor = monitor.str;
  const double inf = std::numeric_limits<double>::infinity();
  o.min_delta = a.number("min_delta", 0.0, -inf, inf);
  o.patience = a.integer("patience", 3, 0);
  o.verbose = a.boolean("verbose", false);
  o.mode = a.string("mode", "min", {"min", "max"}, false);
  o.strict = a.boolean("strict", true);
  o.check_finite = a.boolean("check_finite", true);
  if (const json::Value* v = a.get("stopping_threshold"); v && !v->is_null())
    o.stopping_threshold = a.number("stopping_threshold", 0, -inf, inf);
  if (const json::Value* v = a.get("divergence_threshold"); v && !v->is_null())
    o.divergence_threshold = a.number("divergence_threshold", 0, -inf, inf);
  if (const json::Value* v = a.get("check_on_train_epoch_end"); v && !v->is_null())
    o.check_on_train_epoch_end = a.boolean("check_on_train_epoch_end", false);
  o.log_rank_zero_only = a.boolean("log_rank_zero_only", false);
  a.finish();
  return std::make_unique<EarlyStopping>(std::move(o));
}

std::string EarlyStopping::state_key() const {
  // _generate_state_key(monitor=self.monitor, mode=self.mode)
  return "EarlyStopping{'monitor': " + python_str_repr(o_.monitor) + ", 'mode': " + python_str_repr(o_.mode) + "}";
}

json::Value EarlyStopping::state() const {
  json::Value s = json::Value::make_object();
  s.set("wait_count", json::Value::make_integer(wait_count_));
  s.set("stopped_epoch", json::Value::make_integer(stopped_epoch_));
  s.set("best_score", state_number(best_score_));
  s.set("patience", json::Value::make_integer(o_.patience));
  return s;
}

void EarlyStopping::load_state(const json::Value& s) {
  auto integer = [&](const char* key) {
    const json::Value* v = s.find(key);
    if (!v || !v->is_number() || !v->is_integer)
      throw Error("EarlyStopping state: '" + std::string(key) + "' is missing or not an integer");
    return v->integer;
  };
  const json::Value* best = s.find("best_score");
  if (!best) throw Error("EarlyStopping state: 'best_score' is missing");
  // load_state_dict restores all four, patience included.
  wait_count_ = integer("wait_count");
  stopped_epoch_ = integer("stopped_epoch");
  best_score_ = static_cast<float>(read_state_number(*best, "EarlyStopping state 'best_score'"));
  o_.patience = integer("patience");
}

void EarlyStopping::setup(const CallbackContext& ctx) {
  // setup(): "if the user runs validation multiple times per training epoch or multiple training epochs
  // without validation, then we run after validation instead of on train epoch end"
  if (!check_on_train_epoch_end_)
    check_on_train_epoch_end_ = ctx.val_check_interval == 1.0 && ctx.check_val_every_n_epoch == 1;
}

// _should_skip_check: trainer.state.fn != FITTING or trainer.sanity_checking (only fit calls these hooks here).
void EarlyStopping::on_train_epoch_end(const CallbackContext& ctx) {
  if (!check_on_train_epoch_end_.value_or(false) || ctx.sanity_checking) return;
  run_check(ctx);
}

void EarlyStopping::on_validation_end(const CallbackContext& ctx) {
  if (check_on_train_epoch_end_.value_or(false) || ctx.sanity_checking) return;
  run_check(ctx);
}

void EarlyStopping::run_check(const CallbackContext& ctx) {
  last_reason_.clear();
  static const std::map<std::string, double> kNoMetrics;
  const std::map<std::string, double>* metrics = ctx.metrics();
  const std::map<std::string, double>& logs = metrics ? *metrics : kNoMetrics;
  // _validate_condition_metric
  const auto it = logs.find(o_.monitor);
  if (it == logs.end()) {
    std::string keys;
    for (const auto& kv : logs) keys += (keys.empty() ? "" : "`, `") + kv.first;
    const std::string msg = "Early stopping conditioned on metric `" + o_.monitor +
                            "` which is not available. Pass in or modify your `EarlyStopping` callback to use any "
                            "of the following: `" + keys + "`";
    if (o_.strict) throw Error(msg);  // RuntimeError
    if (o_.verbose) ctx.emit_warning(msg);
    return;
  }
  const float current = static_cast<float>(it->second);
  std::string reason;
  // "stop every ddp process if any world process decides to stop"
  const bool should_stop = ctx.reduce_decision(evaluate(current, reason), false);
  if (should_stop) {
    ctx.request_stop();  // trainer.should_stop = trainer.should_stop or should_stop
    stopped_epoch_ = ctx.current_epoch;
  }
  last_reason_ = reason;
  if (!reason.empty() && o_.verbose) {
    // EarlyStopping._log_info: under DDP each rank's own reason, prefixed with its rank.
    if (ctx.world_size <= 1) ctx.emit_info(reason);
    else if (!o_.log_rank_zero_only || ctx.global_rank == 0)
      std::fprintf(stderr, "[rank: %d] %s\n", ctx.global_rank, reason.c_str());
  }
}

// _evaluate_stopping_criteria, in float32 as torch computes it. f"{current}" of a 0-dim tensor is
// format(current.item(), ""), i.e. repr of the float32 value as a Python float.
bool EarlyStopping::evaluate(float current, std::string& reason) {
  const std::string order = o_.mode == "min" ? "<" : ">";
  const std::string cur = python_repr(current);
  if (o_.check_finite && !std::isfinite(current)) {
    reason = "Monitored metric " + o_.monitor + " = " + cur + " is not finite. Previous best value was " +
             fixed3(best_score_) + ". Signaling Trainer to stop.";
    return true;
  }
  if (o_.stopping_threshold && monitor_op(o_.mode, current, static_cast<float>(*o_.stopping_threshold))) {
    reason = "Stopping threshold reached: " + o_.monitor + " = " + cur + " " + order + " " +
             python_repr(*o_.stopping_threshold) + ". Signaling Trainer to stop.";
    return true;
  }
  if (o_.divergence_threshold && monitor_op(o_.mode, -current, -static_cast<float>(*o_.divergence_threshold))) {
    reason = "Divergence threshold reached: " + o_.monitor + " = " + cur + " " + order + " " +
             python_repr(*o_.divergence_threshold) + ". Signaling Trainer to stop.";
    return true;
  }
  const float shifted = current - static_cast<float>(min_delta_);
  if (monitor_op(o_.mode, shifted, best_score_)) {
    // _improvement_message
    if (std::isfinite(best_score_)) {
      reason = "Metric " + o_.monitor + " improved by " + fixed3(std::fabs(best_score_ - current)) +
               " >= min_delta = " + python_repr(std::fabs(min_delta_)) + ". New best score: " + fixed3(current);
    } else {
      reason = "Metric " + o_.monitor + " improved. New best score: " + fixed3(current);
    }
    best_score_ = current;
    wait_count_ = 0;
    return false;
  }
  ++wait_count_;
  if (wait_count_ >= o_.patience) {
    reason = "Monitored metric " + o_.monitor + " did not improve in the last " + std::to_string(wait_count_) +
             " records. Best score: " + fixed3(best_score_) + ". Signaling Trainer to stop.";
    return true;
  }
  return false;
}

}  // namespace ltrt
