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

void LearningRateMonitor::on_train_start(const CallbackContext& ctx) {
  if (!ctx.has_logger) throw Error("Cannot use `LearningRateMonitor` callback with `Trainer` that has no logger.");
  // SGD has "momentum" and Adam/AdamW "betas" in optimizer.defaults: the log_momentum warning never applies.
  // _find_names_from_schedulers / _find_names_from_optimizers: "lr-" + the optimizer's class name (one
  // optimizer of its type, one param group without a name: no "-1" prefix, no "/pg1" suffix).
  lrs_.clear();
  lrs_["lr-" + ctx.optimizer_name];
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
  const std::string name = "lr-" + ctx.optimizer_name;
  std::vector<std::pair<std::string, double>> stats;
  stats.emplace_back(name, ctx.lr);
  lrs_[name].push_back(ctx.lr);
  if (o_.log_momentum) stats.emplace_back(name + "-momentum", ctx.momentum);
  if (o_.log_weight_decay) stats.emplace_back(name + "-weight_decay", ctx.weight_decay);
  // trainer.callback_metrics.update({name: torch.tensor(value)}): float32 tensors.
  if (std::map<std::string, double>* metrics = ctx.metrics())
    for (const auto& [k, v] : stats) (*metrics)[k] = as_float32(v);
  // logger.log_metrics(latest_stat, step=_batches_that_stepped): the plain Python floats.
  if (ctx.log)
    for (auto& kv : stats) ctx.log->push_back(std::move(kv));
}

}  // namespace ltrt
