// LearningRateMonitor with Lightning 2.x's rules (lightning/pytorch/callbacks/lr_monitor.py).
#include "ltrt/lr_monitor.hpp"

#include "ltrt/config_reader.hpp"
#include "ltrt/error.hpp"

namespace ltrt {

LearningRateMonitor::LearningRateMonitor(Options options) : o_(std::move(options)) {
  if (!o_.logging_interval.empty() && o_.logging_interval != "step" && o_.logging_interval != "epoch")
    throw Error("logging_interval should be `step` or `epoch` or `None`.");
}

std::unique_ptr<LearningRateMonitor> LearningRateMonitor::read(ConfigObject& a) {
  Options o;
  o.logging_interval = a.string("logging_interval", "", {"step", "epoch"});
  o.log_momentum = a.boolean("log_momentum", false);
  o.log_weight_decay = a.boolean("log_weight_decay", false);
  a.finish();
  return std::make_unique<LearningRateMonitor>(std::move(o));
}

// _add_suffix: with several groups "/" + the group's name, or "/pg<i>" (from 1); one group: "/" +
// its name when it has one.
std::vector<std::string> LearningRateMonitor::group_keys(const CallbackContext& ctx) {
  const std::string name = base_key(ctx);
  const auto& groups = ctx.param_groups;
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    if (groups.size() > 1)
      keys.push_back(name + "/" + (groups[i].name ? groups[i].name : "pg" + std::to_string(i + 1)));
    else
      keys.push_back(groups[i].name ? name + "/" + groups[i].name : name);
  }
  return keys;
}

// _find_names_from_schedulers / _find_names_from_optimizers: the scheduler config's name when it has
// one, else "lr-" + the optimizer's class name.
std::string weight_decay_refusal(const LearningRateMonitor::Options& options, const std::string& optimizer) {
  if (!options.log_weight_decay || (optimizer != "Rprop" && optimizer != "LBFGS")) return "";
  return "LearningRateMonitor(log_weight_decay=True) with " + optimizer +
         ": its param_groups have no "
         "'weight_decay', which Lightning reads (a KeyError at the first log): set log_weight_decay false";
}

std::string LearningRateMonitor::base_key(const CallbackContext& ctx) {
  return ctx.has_scheduler && !ctx.scheduler_name.empty() ? ctx.scheduler_name : "lr-" + ctx.optimizer_name;
}

void LearningRateMonitor::on_train_start(const CallbackContext& ctx) {
  if (!ctx.has_logger) throw Error("Cannot use `LearningRateMonitor` callback with `Trainer` that has no logger.");
  if (const std::string refused = weight_decay_refusal(o_, ctx.optimizer_name); !refused.empty()) throw Error(refused);
  // SGD and RMSprop have "momentum" and the Adam family "betas" in optimizer.defaults; Adagrad,
  // Adadelta, Rprop, ASGD and LBFGS have neither, and Lightning warns (a RuntimeWarning) that it logs 0 for their
  // momentum.
  if (o_.log_momentum &&
      (ctx.optimizer_name == "Adagrad" || ctx.optimizer_name == "Adadelta" || ctx.optimizer_name == "Rprop" ||
       ctx.optimizer_name == "ASGD" || ctx.optimizer_name == "LBFGS"))
    ctx.emit_warning("You have set log_momentum=True, but some optimizers do not have momentum. This will log a "
                     "value 0 for the momentum.", "RuntimeWarning");
  // _find_names_from_schedulers / _find_names_from_optimizers: "lr-" + the optimizer's class name (one
  // optimizer of its type: no "-1" prefix), a suffix per parameter group (group_keys).
  // _duplicate_param_group_names: the groups' names, "pg<i>" for those without one, must differ.
  std::map<std::string, int> seen;
  for (std::size_t i = 0; i < ctx.param_groups.size(); ++i)
    ++seen[ctx.param_groups[i].name ? ctx.param_groups[i].name : "pg" + std::to_string(i + 1)];
  std::string duplicates;
  for (const auto& [n, count] : seen)
    if (count > 1) duplicates += (duplicates.empty() ? "'" : ", '") + n + "'";
  if (!duplicates.empty())
    throw Error("A single `Optimizer` cannot have multiple parameter groups with identical `name` values. " +
                base_key(ctx) +
                " has duplicated parameter group names {" + duplicates + "}");
  lrs_.clear();
  for (const std::string& key : group_keys(ctx)) lrs_[key];
}

void LearningRateMonitor::on_train_batch_start(const CallbackContext& ctx) {
  // trainer._logger_connector.should_update_logs ("+ 1": checked before the step is taken)
  const bool should_stop = ctx.should_stop && *ctx.should_stop;
  const bool update = ctx.log_every_n_steps != 0 &&
                      ((ctx.batches_that_stepped + 1) % ctx.log_every_n_steps == 0 || should_stop);
  if (!update) return;
  if (o_.logging_interval != "epoch") extract_and_log(ctx, o_.logging_interval.empty() ? "step" : "any");
}

void LearningRateMonitor::on_train_epoch_start(const CallbackContext& ctx) {
  if (o_.logging_interval != "step") extract_and_log(ctx, o_.logging_interval.empty() ? "epoch" : "any");
}

// _extract_stats(trainer, interval): a scheduler's optimizer when interval is the scheduler's interval or
// "any"; an optimizer without a scheduler always.
void LearningRateMonitor::extract_and_log(const CallbackContext& ctx, const std::string& interval) {
  if (ctx.has_scheduler && interval != ctx.scheduler_interval && interval != "any") return;
  // _get_optimizer_stats: per group its lr, then momentum and weight_decay when asked.
  const std::vector<std::string> keys = group_keys(ctx);
  std::vector<std::pair<std::string, double>> stats;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    stats.emplace_back(keys[i], ctx.lrs.at(i));
    lrs_[keys[i]].push_back(ctx.lrs.at(i));
    if (o_.log_momentum) stats.emplace_back(keys[i] + "-momentum", ctx.momentums.at(i));
    if (o_.log_weight_decay) stats.emplace_back(keys[i] + "-weight_decay", ctx.param_groups[i].weight_decay);
  }
  // trainer.callback_metrics.update({name: torch.tensor(value)}): float32 tensors.
  if (std::map<std::string, double>* metrics = ctx.metrics())
    for (const auto& [k, v] : stats) (*metrics)[k] = as_float32(v);
  // logger.log_metrics(latest_stat, step=_batches_that_stepped): the plain Python floats.
  if (ctx.log)
    for (auto& kv : stats) ctx.log->push_back(std::move(kv));
}

}  // namespace ltrt
