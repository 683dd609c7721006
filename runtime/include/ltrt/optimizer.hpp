// The optimizer of a ModelDef: dispatches on OptimizerConfig to SGD, Adam, AdamW, Adamax, RAdam,
// NAdam, RMSprop, Adagrad, Adadelta, Rprop or ASGD over the flat parameter / gradient / slot regions of the arena,
// or LBFGS (ltrt/lbfgs.hpp), which steps with a closure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ltrt/lbfgs.hpp"
#include "ltrt/lr_scheduler.hpp"
#include "ltrt/model.hpp"

namespace ltrt {

// torch.optim's class name: "SGD", "Adam", "AdamW", "Adamax", "RAdam", "NAdam", "RMSprop", "Adagrad",
// "Adadelta", "Rprop", "ASGD", "LBFGS".
const char* optimizer_name(OptimizerKind kind);

// The name of torch's per-parameter scalar state that Optimizer::group_states holds per group:
// "mu_product" (NAdam), "eta" (ASGD), else nullptr.
const char* group_state_name(OptimizerKind kind);

// The per-parameter state tensors torch.optim keeps for this configuration,
// in slot order: SGD with momentum: {"momentum_buffer"}; SGD without: {};
// Adam/AdamW: {"exp_avg", "exp_avg_sq"} plus "max_exp_avg_sq" when amsgrad; Adamax: {"exp_avg",
// "exp_inf"}; RAdam and NAdam: {"exp_avg", "exp_avg_sq"} (NAdam's mu_product is a scalar per
// parameter group, Optimizer::group_states); RMSprop:
// {"square_avg"}, "momentum_buffer" with a momentum, "grad_avg" when centered; Adagrad: {"sum"}; Adadelta: {"square_avg", "acc_delta"};
// Rprop: {"prev", "step_size"}; ASGD: {"ax"} (its eta and mu are scalars per parameter group).
std::vector<std::string> optimizer_slot_names(const OptimizerConfig& config);

// The model's parameter groups: its ParamGroupDefs, or one group of every parameter with the
// optimizer's lr and weight_decay for a model that names none.
std::vector<ParamGroupDef> param_groups_of(const ModelDef& model);

// The hyperparameters group `g` steps with: its own (ParamGroupDef::optimizer) or the optimizer's,
// with the group's lr and weight_decay.
inline OptimizerConfig group_config(const OptimizerConfig& optimizer, const ParamGroupDef& g) {
  OptimizerConfig c = g.optimizer ? *g.optimizer : optimizer;
  c.lr = g.lr;
  c.weight_decay = g.weight_decay;
  return c;
}
inline OptimizerConfig group_config(const ModelDef& model, const ParamGroupDef& g) {
  return group_config(model.optimizer, g);
}

// The groups configure_optimizers makes: all but a BackboneFinetuning's (ModelDef::backbone_group),
// which joins during fit.
inline int configured_param_groups(const ModelDef& model) {
  return static_cast<int>(param_groups_of(model).size()) - (model.backbone_group ? 1 : 0);
}

// The flat regions' elements of the first `count` groups, which lie one after another from 0.
inline std::int64_t group_elements(const std::vector<ParamGroupDef>& groups, int count) {
  const ParamGroupDef& last = groups.at(static_cast<std::size_t>(count - 1));
  return last.begin + last.count;
}

// Each parameter group's learning rate, in order.
std::vector<double> group_lrs(const ModelDef& model);

// What a momentum-cycling scheduler needs of this optimizer (LrScheduler::create).
// momentum: SGD's or RMSprop's momentum or the Adam family's beta1, the value a step uses unless a
// scheduler cycles it; Adagrad, Adadelta, Rprop, ASGD and LBFGS have neither (torch refuses to cycle it).
inline OptimizerMomentum optimizer_momentum(const OptimizerConfig& c) {
  const bool betas = c.kind == OptimizerKind::adam || c.kind == OptimizerKind::adamw ||
                     c.kind == OptimizerKind::adamax || c.kind == OptimizerKind::radam ||
                     c.kind == OptimizerKind::nadam;
  return {betas, betas ? c.beta1 : c.momentum, optimizer_name(c.kind),
          c.kind != OptimizerKind::adagrad && c.kind != OptimizerKind::adadelta && c.kind != OptimizerKind::rprop &&
              c.kind != OptimizerKind::asgd && c.kind != OptimizerKind::lbfgs};
}

class Optimizer {
 public:
  // Checks that the model's slot regions match the configuration (count and
  // names); throws ltrt::Error otherwise. Slots start at zero (the arena is
  // zeroed).
  Optimizer(const ModelDef& model, std::byte* arena);

  // One optimizer step over all parameters: increments the step count, then
  // updates parameters and slots from the gradient region, each group with its
  // hyperparameters (group_config; lr and momentum as a scheduler set them). Does not allocate.
  // Not for LBFGS, which steps with a closure:
  void step();
  // LBFGS's optimizer.step(closure) (ltrt/lbfgs.hpp) over the host arena's parameters, with the
  // learning rate now: counts the step and returns the first evaluation's loss.
  float step_lbfgs(const LbfgsClosure& closure);
  // LBFGS's state (empty before its first step; checkpoints keep it, shared rather than copied:
  // its history holds 2 history_size copies of the parameters).
  std::shared_ptr<const LbfgsState> lbfgs_state() const { return lbfgs_; }
  void set_lbfgs_state(const LbfgsState& state) { *lbfgs_ = state; }

  // Number of steps taken (torch's state["step"]); saved in checkpoints.
  std::int64_t step_count() const { return step_count_; }
  void set_step_count(std::int64_t steps) { step_count_ = steps; }
  // A step that the device took (CudaBackend): counts it, and advances what step() advances on
  // the host besides the regions (group_states).
  void count_device_step();

  // The float32 scalar that torch keeps per parameter and that is the same for every parameter of
  // a group, one per group: NAdam's state["mu_product"] (the product of each step's mu; 1 before
  // the first step) or ASGD's state["eta"] (the step size the next step uses). Saved in checkpoints
  // under group_state_name. Empty for the other optimizers.
  const std::vector<float>& group_states() const { return group_states_; }
  void set_group_states(std::vector<float> states) { group_states_ = std::move(states); }

  // The learning rate of the next step, of parameter group `group` (LR schedulers set each
  // group's; param_groups[0]["lr"] is group 0's). set_lr(lr) sets every group's.
  int num_groups() const { return static_cast<int>(groups_.size()); }
  double lr(int group = 0) const { return lrs_[static_cast<std::size_t>(group)]; }
  void set_lr(double lr) { lrs_.assign(lrs_.size(), lr); }
  void set_lr(int group, double lr) { lrs_[static_cast<std::size_t>(group)] = lr; }
  const std::vector<double>& lrs() const { return lrs_; }
  // SGD's or RMSprop's momentum or Adam's beta1 of the next step, per group: the configuration's, unless a
  // scheduler cycles it (OneCycleLR with cycle_momentum; see LrScheduler::momentum).
  double momentum(int group = 0) const { return momentums_[static_cast<std::size_t>(group)]; }
  void set_momentum(int group, double momentum) { momentums_[static_cast<std::size_t>(group)] = momentum; }
  const std::vector<double>& momentums() const { return momentums_; }

  const OptimizerConfig& config() const { return model_.optimizer; }
  const ModelDef& model() const { return model_; }

  // BackboneFinetuning (ModelDef::backbone_group): the model's last group, the backbone's, joins the
  // optimizer at the callback's unfreeze epoch with lr `lr`, as torch's add_param_group; from then
  // on step() steps it, and its parameters' state["step"] counts from 0 there.
  void add_backbone_group(double lr);
  bool backbone_added() const { return backbone_added_at_ >= 0; }
  // The step count when the backbone's group joined, -1 before (checkpoints keep it).
  std::int64_t backbone_added_at() const { return backbone_added_at_; }
  void set_backbone_added_at(std::int64_t step) { backbone_added_at_ = step; }
  // torch's len(optimizer.param_groups): the groups step() steps now (all but a backbone's group
  // that has not joined yet).
  int num_active_groups() const {
    return num_groups() - (model_.backbone_group && !backbone_added() ? 1 : 0);
  }
  // The flat regions' elements of the active groups, [0, active_elements()): what clipping, the
  // GradScaler's check and DDP read; a backbone's gradients before it joins are left out, as
  // torch's are None then.
  std::int64_t active_elements() const { return group_elements(groups_, num_active_groups()); }
  // state["step"] of group g's parameters after step_count() steps.
  std::int64_t group_step_count(int group) const {
    const bool late = model_.backbone_group && group == num_groups() - 1;
    return late ? (backbone_added() ? step_count_ - backbone_added_at_ : 0) : step_count_;
  }

 private:
  const ModelDef& model_;
  std::byte* arena_;
  std::vector<ParamGroupDef> groups_;
  std::vector<OptimizerConfig> configs_;  // each group's hyperparameters (group_config)
  std::int64_t step_count_ = 0;
  std::vector<double> lrs_;        // per group
  std::vector<double> momentums_;  // per group
  std::vector<float> group_states_;  // NAdam's mu_product or ASGD's eta, per group
  std::int64_t backbone_added_at_ = -1;
  std::shared_ptr<LbfgsState> lbfgs_ = std::make_shared<LbfgsState>();
};

}  // namespace ltrt
