// StochasticWeightAveraging with Lightning 2.6's rules (lightning/pytorch/callbacks/
// stochastic_weight_avg.py) over the backend's averaged copy of the model.
#include "ltrt/stochastic_weight_averaging.hpp"

#include <string>
#include <utility>

#include "ltrt/backend.hpp"
#include "ltrt/config_reader.hpp"
#include "ltrt/error.hpp"
#include "ltrt/lr_scheduler.hpp"

namespace ltrt {

namespace {

Backend& backend_of(const CallbackContext& ctx) {
  if (!ctx.backend)
    throw Error("StochasticWeightAveraging: the trainer gave the callback no backend to keep its averaged model on");
  return *ctx.backend;
}

}  // namespace

StochasticWeightAveraging::StochasticWeightAveraging(Options o) : o_(std::move(o)) {}

std::unique_ptr<StochasticWeightAveraging> StochasticWeightAveraging::read(ConfigObject& a) {
  Options o;
  const std::string lrs_message = "The `swa_lrs` should a positive float, or a list of positive floats";  // Lightning's
  const json::Value& lrs = a.require("swa_lrs");
  if (lrs.is_number()) {
    if (!(lrs.num > 0)) a.fail("swa_lrs", lrs_message + ", got " + json::write(lrs));
    o.swa_lrs = {lrs.num};
  } else if (lrs.is_array() && !lrs.items.empty()) {
    for (const json::Value& v : lrs.items) {
      if (!v.is_number() || !(v.num > 0)) a.fail("swa_lrs", lrs_message + ", got " + json::write(lrs));
      o.swa_lrs.push_back(v.num);
    }
    o.lrs_per_group = true;
  } else {
    a.fail("swa_lrs", lrs_message + ", got " + json::write(lrs));
  }
  const std::string start_message = "swa_epoch_start should be a >0 integer or a float between 0 and 1.";
  if (const json::Value* start = a.get("swa_epoch_start"); start && !start->is_null()) {
    if (!start->is_number()) a.fail("swa_epoch_start", start_message + " Got " + json::write(*start));
    if (start->is_integer) {
      if (start->integer < 1) a.fail("swa_epoch_start", start_message + " Got " + json::write(*start));
      o.start_epoch = start->integer;
    } else {
      if (!(start->num >= 0 && start->num <= 1)) a.fail("swa_epoch_start", start_message + " Got " + json::write(*start));
      o.start_fraction = start->num;
    }
  } else {
    o.start_fraction = 0.8;  // Lightning's default
  }
  // SWALR's: "anneal_epochs must be equal or greater than 0"
  o.annealing_epochs = a.integer("annealing_epochs", 10, 0);
  o.cosine = a.string("annealing_strategy", "cos", {"cos", "linear"}, false) == "cos";
  a.not_yet("avg_fn", "a Python averaging function");
  // device: where Lightning keeps the averaged model ("cpu" by default). The running mean's float32
  // arithmetic is the same on either device; ltgen keeps the copy where the steps run.
  if (const json::Value* device = a.get("device"); device && !device->is_null()) {
    if (!device->is_string() || device->str.empty())
      a.fail("device", "expected a device name (\"cpu\", \"cuda\", \"cuda:0\") or null, got " + describe(*device));
  }
  a.finish();
  return std::make_unique<StochasticWeightAveraging>(std::move(o));
}

json::Value StochasticWeightAveraging::state() const {
  json::Value s = json::Value::make_object();
  s.set("n_averaged", json::Value::make_integer(n_averaged_.value_or(0)));
  s.set("latest_update_epoch", json::Value::make_integer(latest_update_epoch_));
  // The SWALR's state once it runs (one group: its state; several: a list), else null.
  if (swalr_.empty()) {
    s.set("scheduler_state", json::Value::make_null());
  } else if (swalr_.size() == 1) {
    s.set("scheduler_state", swalr_[0]->state());
  } else {
    json::Value list = json::Value::make_array();
    for (const LrScheduler* scheduler : swalr_) list.push(scheduler->state());
    s.set("scheduler_state", std::move(list));
  }
  return s;
}

void StochasticWeightAveraging::load_state(const json::Value& s) {
  const json::Value* n = s.find("n_averaged");
  const json::Value* latest = s.find("latest_update_epoch");
  const json::Value* scheduler = s.find("scheduler_state");
  if (!n || !n->is_integer || n->integer < 0) throw Error("'n_averaged' is missing or not a non-negative integer");
  if (!latest || !latest->is_integer) throw Error("'latest_update_epoch' is missing or not an integer");
  if (!scheduler) throw Error("'scheduler_state' is missing");
  init_n_averaged_ = n->integer;
  latest_update_epoch_ = latest->integer;
  scheduler_state_ = *scheduler;
}

void StochasticWeightAveraging::setup(const CallbackContext& ctx) {
  backend_of(ctx).average_reset(kRule);  // deepcopy(pl_module)
  active_ = true;
}

void StochasticWeightAveraging::on_fit_start(const CallbackContext& ctx) {
  max_epochs_ = ctx.max_epochs;
  if (o_.start_fraction) {
    if (max_epochs_ == -1)
      throw Error("SWA with `swa_epoch_start` as a float is not supported when `max_epochs=-1`. Please provide "
                  "`swa_epoch_start` as an integer.");
    start_ = static_cast<std::int64_t>(static_cast<double>(max_epochs_) * *o_.start_fraction);
  } else {
    start_ = *o_.start_epoch;
  }
  batch_norm_ = ctx.has_batch_norm;
  // One more epoch recomputes BatchNorm's statistics for the mean.
  if (batch_norm_ && max_epochs_ != -1) {
    if (!ctx.extend_max_epochs) throw Error("StochasticWeightAveraging: the trainer cannot add the BatchNorm epoch");
    ctx.extend_max_epochs(1);
  }
  // _clear_schedulers: resumed with SWA's scheduler state, the SWALR comes back when SWA starts.
  if (!scheduler_state_.is_null() && ctx.set_schedulers) ctx.set_schedulers({});
}

void StochasticWeightAveraging::on_train_epoch_start(const CallbackContext& ctx) {
  const std::int64_t epoch = ctx.current_epoch;
  if (!initialized_ && in_range(epoch)) {
    initialized_ = true;
    const std::size_t groups = ctx.lrs.size();
    if (o_.lrs_per_group && o_.swa_lrs.size() != groups)  // torch's _format_param
      throw Error("swa_lr must have the same length as optimizer.param_groups: swa_lr has " +
                  std::to_string(o_.swa_lrs.size()) + ", optimizer.param_groups has " + std::to_string(groups));
    std::vector<std::unique_ptr<LrScheduler>> swalr;
    for (std::size_t g = 0; g < groups; ++g) {
      const double swa_lr = o_.lrs_per_group ? o_.swa_lrs[g] : o_.swa_lrs[0];
      // last_epoch: trainer.max_epochs now, with the BatchNorm epoch added
      swalr.push_back(make_swalr(swa_lr, o_.annealing_epochs, o_.cosine, o_.cosine ? ctx.max_epochs : -1, ctx.lrs[g]));
    }
    if (!scheduler_state_.is_null()) {  // restored from a checkpoint
      if (groups == 1) {
        swalr[0]->load_state(scheduler_state_);
      } else {
        if (!scheduler_state_.is_array() || scheduler_state_.items.size() != groups)
          throw Error("StochasticWeightAveraging's scheduler_state is not a list of " + std::to_string(groups) +
                      " (one per parameter group)");
        for (std::size_t g = 0; g < groups; ++g) swalr[g]->load_state(scheduler_state_.items[g]);
      }
    } else if (epoch != swa_start()) {
      ctx.emit_warning("SWA is initializing after swa_start without any checkpoint data. This may be caused by "
                       "loading a checkpoint from an older version of PyTorch Lightning.");
    }
    if (ctx.has_scheduler) {
      if (ctx.scheduler_interval != "epoch" || ctx.scheduler_frequency != 1)
        ctx.emit_warning("SWA is currently only supported every epoch. Found LRSchedulerConfig(scheduler=" +
                         ctx.scheduler_type + ", interval='" + ctx.scheduler_interval +
                         "', frequency=" + std::to_string(ctx.scheduler_frequency) + ")");
      ctx.emit_info("Swapping scheduler `" + ctx.scheduler_type + "` for `SWALR`");
    }
    swalr_.clear();
    for (const auto& scheduler : swalr) swalr_.push_back(scheduler.get());
    if (!ctx.set_schedulers) throw Error("StochasticWeightAveraging: the trainer gave the callback no LR schedulers");
    ctx.set_schedulers(std::move(swalr));
    if (!n_averaged_) n_averaged_ = init_n_averaged_;
  }
  if (in_range(epoch) && epoch > latest_update_epoch_) {
    backend_of(ctx).average_update(*n_averaged_);
    ++*n_averaged_;
    latest_update_epoch_ = epoch;
  }
  // (Lightning has no `>` here, in case training goes on from a checkpoint.)
  if (max_epochs_ != -1 && epoch == swa_end() + 1) {
    backend_of(ctx).average_to_model(true);  // transfer_weights
    if (!ctx.swa_batch_norm_epoch) throw Error("StochasticWeightAveraging: the trainer cannot run the BatchNorm epoch");
    ctx.swa_batch_norm_epoch(CallbackContext::BatchNormEpoch::start);
  }
}

void StochasticWeightAveraging::on_train_epoch_end(const CallbackContext& ctx) {
  if (ctx.swa_batch_norm_epoch) ctx.swa_batch_norm_epoch(CallbackContext::BatchNormEpoch::end_epoch);
}

void StochasticWeightAveraging::on_train_end(const CallbackContext& ctx) {
  // The trainer has counted the last epoch: current_epoch - 1 is it.
  if (batch_norm_ && max_epochs_ != -1 && ctx.current_epoch - 1 == swa_end() + 1) {
    // The BatchNorm epoch ran: the weights are the mean already.
    ctx.swa_batch_norm_epoch(CallbackContext::BatchNormEpoch::end_fit);
    ctx.extend_max_epochs(-1);
  } else if ((max_epochs_ == -1 || ctx.current_epoch - 1 == swa_end()) && active_) {
    backend_of(ctx).average_to_model(true);  // transfer_weights: the parameters
  }
}

}  // namespace ltrt
