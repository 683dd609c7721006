// Learning-rate schedulers with torch.optim.lr_scheduler's semantics, for one
// parameter group. Each scheduler owns "the optimizer's lr" (torch's
// param_groups[0]["lr"]): the training loop reads lr() after construction and
// after every step() and hands it to Optimizer::set_lr.
//
// The arithmetic is torch's own, in double as Python does it: step() without
// an epoch uses the chainable (recursive) get_lr() forms, SequentialLR switches
// schedulers with step(0) (the closed forms), OneCycleLR and
// CosineAnnealingWarmRestarts use their direct formulas. Sequences match
// torch's float for float (the oracle test asks for 1e-12 relative).
//
// Supported types and their torch constructor arguments (see
// scheduler_arguments() for the defaults):
//   StepLR(step_size, gamma=0.1)
//   MultiStepLR(milestones, gamma=0.1)
//   ExponentialLR(gamma)
//   LambdaLR(lr_lambda), MultiplicativeLR(lr_lambda): lr_lambda a Python lambda of the step
//     count as a string ("lambda step: min(1.0, (step + 1) / 100)"; ltrt/python_lambda.hpp says
//     which Python), or a list of them, one per parameter group.
//   CosineAnnealingLR(T_max, eta_min=0)
//   LinearLR(start_factor=1/3, end_factor=1.0, total_iters=5)
//   ConstantLR(factor=1/3, total_iters=5)
//   PolynomialLR(total_iters=5, power=1.0)
//   OneCycleLR(max_lr, total_steps | epochs*steps_per_epoch, pct_start=0.3,
//              anneal_strategy='cos', cycle_momentum=True, base_momentum=0.85,
//              max_momentum=0.95, div_factor=25, final_div_factor=1e4,
//              three_phase=False)
//     With cycle_momentum (torch's default) it also cycles the optimizer's
//     momentum (SGD) or beta1 (Adam, AdamW) between max_momentum and
//     base_momentum, against the lr (momentum()); SGD then needs a momentum
//     of its own (a momentum buffer): torch would switch one on.
//     Like torch, OneCycleLR ignores the optimizer's lr: it starts at
//     max_lr/div_factor (torch overwrites initial_lr).
//   CyclicLR(base_lr, max_lr, step_size_up=2000, step_size_down=None,
//            mode='triangular', gamma=1.0, scale_mode='cycle', cycle_momentum=True,
//            base_momentum=0.8, max_momentum=0.9): cycles momentum as OneCycleLR;
//     scale_fn a Python lambda as a string (as LambdaLR's lr_lambda), of the cycle or, with
//     scale_mode "iterations", of the iteration.
//   CosineAnnealingWarmRestarts(T_0, T_mult=1, eta_min=0)
//   SequentialLR(schedulers, milestones): schedulers is an array of
//     {"type": ..., <args>} objects of the types above (not SequentialLR or
//     ReduceLROnPlateau), built in order on the same parameter group as torch
//     builds them before SequentialLR (so a later OneCycleLR's initial_lr is
//     what SequentialLR resets the lr to, as in torch).
//   ChainedScheduler(schedulers): schedulers as SequentialLR's, built in
//     order on the same parameter group, all stepped at every step in order.
//   ReduceLROnPlateau(mode='min', factor=0.1, patience=10, threshold=1e-4,
//                     threshold_mode='rel', cooldown=0, min_lr=0, eps=1e-8)
//     step(metric) needs the monitored value. A min_lr list (one per
//     parameter group) is split by group_scheduler_spec.
// Not supported: last_epoch/verbose arguments (resume is state()/load_state()),
// lr_lambdas beyond python_lambda.hpp's Python, stepping with an explicit epoch.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ltrt/json.hpp"

namespace ltrt {

// One scheduler as torch names it, with its constructor arguments (torch's
// names). SequentialLR: args["schedulers"] is an array of {"type": ..., ...args}
// objects, args["milestones"] an array of integers.
struct SchedulerSpec {
  std::string type;
  json::Value args;  // an object (null is taken as {})
};

// What a scheduler that cycles momentum needs of the optimizer: torch's
// `"betas" in optimizer.defaults` (the Adam family: it cycles beta1) or SGD's or
// RMSprop's momentum (it cycles that, and needs it non-zero: see OneCycleLR above).
struct OptimizerMomentum {
  bool betas = false;   // the Adam family's betas[0]; else a "momentum" (SGD, RMSprop)
  double momentum = 0;  // SGD's or RMSprop's momentum or beta1 (a scheduler checks the momentum only)
  const char* optimizer = "SGD";  // torch.optim's class, for messages
  bool cyclable = true;           // false: neither momentum nor betas (Adagrad)
};

class LrScheduler {
 public:
  // base_lr: the optimizer's lr when the scheduler is built (torch's
  // initial_lr). Performs torch's constructor, initial step included. Throws
  // ltrt::Error for an unknown type or a bad argument; the message names the
  // scheduler and the argument.
  static std::unique_ptr<LrScheduler> create(const SchedulerSpec& spec, double base_lr,
                                             const OptimizerMomentum& optimizer = {});

  virtual ~LrScheduler();

  // torch's class name: "StepLR", ...
  virtual const char* type() const = 0;
  // True for ReduceLROnPlateau: step() needs the monitored metric.
  virtual bool needs_metric() const { return false; }

  // The lr the optimizer should use now: after construction, torch's lr after
  // __init__'s initial step; after step(), torch's get_last_lr()[0].
  virtual double lr() const = 0;
  // The optimizer's lr now, before a step: torch's schedulers build on group["lr"], which a
  // hook may have set since the last step (the recursive forms and ReduceLROnPlateau read it).
  virtual void take_lr(double lr) = 0;

  // The momentum (SGD) or beta1 (Adam, AdamW) the optimizer should use now when
  // the scheduler cycles it (OneCycleLR with cycle_momentum); nullopt otherwise.
  virtual std::optional<double> momentum() const { return std::nullopt; }

  // scheduler.step(). ReduceLROnPlateau: step(metric), the metric is required
  // (NaN counts as "not better", as in torch). The others take no metric and
  // throw ltrt::Error if given one. OneCycleLR throws ltrt::Error when stepped
  // past total_steps (torch's ValueError).
  virtual void step(std::optional<double> metric = std::nullopt) = 0;

  // Everything needed to continue bit-exactly: the lr (and the rest of torch's
  // param-group entries a scheduler uses: initial_lr, OneCycleLR's max_lr,
  // min_lr and, cycling, the momentum and its bounds), last_epoch, step counts, base_lr, counters, best, ... An object
  // with "type"; non-finite numbers (ReduceLROnPlateau's initial best = inf)
  // are written as the strings "inf" / "-inf" / "nan" so that strict JSON
  // keeps them.
  virtual json::Value state() const = 0;
  // Restores state() output on a scheduler created from the same spec. The
  // constructor arguments stay those of the spec (torch's load_state_dict would
  // also overwrite them from the checkpoint). Throws ltrt::Error on a type
  // mismatch or a missing / malformed entry.
  virtual void load_state(const json::Value& state) = 0;
};

// torch.optim.swa_utils.SWALR for one parameter group, as Lightning's StochasticWeightAveraging
// builds it: the group's initial_lr set to swa_lr, `last_epoch` given (Lightning passes max_epochs
// for "cos", -1 for "linear"), then torch's initial step from the group's lr now (`lr_now`).
// Throws ltrt::Error for a negative anneal_epochs (torch's ValueError).
std::unique_ptr<LrScheduler> make_swalr(double swa_lr, std::int64_t anneal_epochs, bool cosine, std::int64_t last_epoch,
                                        double lr_now);

// The spec of the scheduler for parameter group `group` of `groups` (ltgen runs a scheduler per
// group, as torch's schedulers treat each group on its own): torch takes a list for OneCycleLR's
// and CyclicLR's max_lr, base_momentum and max_momentum (CyclicLR's base_lr too) and
// ReduceLROnPlateau's min_lr, one entry per group
// (_format_param), also inside SequentialLR's and ChainedScheduler's schedulers. Throws
// ltrt::Error when such a list does not have one entry per group.
SchedulerSpec group_scheduler_spec(const SchedulerSpec& spec, int group, int groups);

// One constructor argument as torch declares it. default_value is torch's
// default; null with required == false is torch's None (OneCycleLR's
// total_steps / epochs / steps_per_epoch: one of total_steps or both of epochs
// and steps_per_epoch must be given).
struct SchedulerArgument {
  std::string name;
  json::Value default_value;
  bool required = false;
};

// The argument names each supported type accepts, in torch's order, with
// torch's defaults (for the spec validator). Types in the order of the list
// above.
const std::vector<std::pair<std::string, std::vector<SchedulerArgument>>>& scheduler_arguments();

}  // namespace ltrt
