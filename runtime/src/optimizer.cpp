// Dispatch from OptimizerConfig to the SGD / Adam / AdamW / Adamax / RAdam / NAdam / RMSprop / Adagrad / Adadelta
// / Rprop / ASGD kernels.
#include "ltrt/optimizer.hpp"

#include <cstring>

#include "ltrt/adadelta.hpp"
#include "ltrt/adagrad.hpp"
#include "ltrt/adam.hpp"
#include "ltrt/adamax.hpp"
#include "ltrt/arena.hpp"
#include "ltrt/asgd.hpp"
#include "ltrt/error.hpp"
#include "ltrt/lbfgs.hpp"
#include "ltrt/nadam.hpp"
#include "ltrt/parallel_for.hpp"
#include "ltrt/radam.hpp"
#include "ltrt/rmsprop.hpp"
#include "ltrt/rprop.hpp"
#include "ltrt/sgd.hpp"

namespace ltrt {

const char* optimizer_name(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::sgd:
      return "SGD";
    case OptimizerKind::adam:
      return "Adam";
    case OptimizerKind::adamw:
      return "AdamW";
    case OptimizerKind::adamax:
      return "Adamax";
    case OptimizerKind::radam:
      return "RAdam";
    case OptimizerKind::nadam:
      return "NAdam";
    case OptimizerKind::rmsprop:
      return "RMSprop";
    case OptimizerKind::adagrad:
      return "Adagrad";
    case OptimizerKind::adadelta:
      return "Adadelta";
    case OptimizerKind::rprop:
      return "Rprop";
    case OptimizerKind::asgd:
      return "ASGD";
    case OptimizerKind::lbfgs:
      return "LBFGS";
  }
  return "?";
}

const char* group_state_name(OptimizerKind kind) {
  return kind == OptimizerKind::nadam ? "mu_product" : kind == OptimizerKind::asgd ? "eta" : nullptr;
}

std::vector<std::string> optimizer_slot_names(const OptimizerConfig& config) {
  switch (config.kind) {
    case OptimizerKind::sgd:
      if (config.momentum != 0.0) return {"momentum_buffer"};
      return {};
    case OptimizerKind::adam:
    case OptimizerKind::adamw:
      if (config.amsgrad) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
      return {"exp_avg", "exp_avg_sq"};
    case OptimizerKind::adamax:
      return {"exp_avg", "exp_inf"};
    case OptimizerKind::radam:
    case OptimizerKind::nadam:
      return {"exp_avg", "exp_avg_sq"};
    case OptimizerKind::rmsprop: {  // torch's _init_group order
      std::vector<std::string> s = {"square_avg"};
      if (config.momentum > 0.0) s.push_back("momentum_buffer");
      if (config.centered) s.push_back("grad_avg");
      return s;
    }
    case OptimizerKind::adagrad:
      return {"sum"};
    case OptimizerKind::adadelta:  // torch's _init_group order
      return {"square_avg", "acc_delta"};
    case OptimizerKind::rprop:  // torch's _init_group order
      return {"prev", "step_size"};
    case OptimizerKind::asgd:  // eta and mu are 0-dim: per group here (group_states, the step count)
      return {"ax"};
    case OptimizerKind::lbfgs:  // its state is the whole model's (Optimizer::lbfgs_state)
      return {};
  }
  return {};
}

std::vector<ParamGroupDef> param_groups_of(const ModelDef& model) {
  if (model.num_param_groups == 0)
    return {{nullptr, model.optimizer.lr, model.optimizer.weight_decay, 0, trainable_elements(model)}};
  return std::vector<ParamGroupDef>(model.param_groups, model.param_groups + model.num_param_groups);
}

std::vector<double> group_lrs(const ModelDef& model) {
  std::vector<double> lrs;
  for (const ParamGroupDef& g : param_groups_of(model)) lrs.push_back(g.lr);
  return lrs;
}

Optimizer::Optimizer(const ModelDef& model, std::byte* arena)
    : model_(model),
      arena_(arena),
      groups_(param_groups_of(model)),
      group_states_(group_state_name(model.optimizer.kind) ? groups_.size() : 0, 1.0f) {
  for (const ParamGroupDef& g : groups_) {
    configs_.push_back(group_config(model, g));
    if (configs_.back().kind != model.optimizer.kind)
      throw Error(std::string("model '") + model.name + "': a parameter group of another optimizer than " +
                  optimizer_name(model.optimizer.kind) + "; regenerate it with ltgen");
    if (optimizer_slot_names(configs_.back()) != optimizer_slot_names(model.optimizer))
      throw Error(std::string("model '") + model.name + "': a parameter group whose " +
                  optimizer_name(model.optimizer.kind) + " keeps other state tensors than the optimizer's; "
                  "regenerate it with ltgen");
    lrs_.push_back(g.lr);
    momentums_.push_back(optimizer_momentum(configs_.back()).momentum);
  }
  std::int64_t next = 0;  // the groups cover the flat region's trainable part, in order, without gaps
  for (const ParamGroupDef& g : groups_) {
    if (g.begin != next || g.count < 0) break;
    next += g.count;
  }
  if (next != trainable_elements(model) || model.num_frozen_elements < 0)
    throw Error(std::string("model '") + model.name +
                "': its parameter groups do not cover the parameters in order; "
                "regenerate it with ltgen");
  if (static_cast<int>(groups_.size()) > kMaxParamGroups)
    throw Error(std::string("model '") + model.name + "': " + std::to_string(groups_.size()) +
                " parameter groups, more than the runtime's " + std::to_string(kMaxParamGroups) +
                "; regenerate it with this ltgen");
  const std::vector<std::string> expected = optimizer_slot_names(model.optimizer);
  bool ok = static_cast<int>(expected.size()) == model.num_slots;
  for (int k = 0; ok && k < model.num_slots; ++k) {
    ok = model.slot_names != nullptr && model.slot_names[k] != nullptr && expected[k] == model.slot_names[k];
  }
  if (!ok) {
    std::string want, have;
    for (const auto& n : expected) want += (want.empty() ? "" : ", ") + n;
    for (int k = 0; k < model.num_slots; ++k) {
      have +=
          (have.empty() ? "" : ", ") + std::string(model.slot_names && model.slot_names[k] ? model.slot_names[k] : "?");
    }
    throw Error(std::string("model '") + model.name + "': " + optimizer_name(model.optimizer.kind) +
                " needs the optimizer slots [" + want + "] but the generated model has [" + have +
                "]; regenerate it with ltgen");
  }
}

void Optimizer::add_backbone_group(double lr) {
  if (!model_.backbone_group)
    throw Error(std::string("model '") + model_.name + "' has no backbone group (model.backbone); regenerate it with ltgen");
  if (!backbone_added()) backbone_added_at_ = step_count_;
  lrs_.back() = lr;
}

void Optimizer::step() {
  if (model_.optimizer.kind == OptimizerKind::lbfgs)
    throw Error("internal: LBFGS steps with a closure (Optimizer::step_lbfgs), not Optimizer::step");
  float* param = param_region(model_, arena_);
  const float* grad = grad_region(model_, arena_);
  ++step_count_;
  for (std::size_t gi = 0; gi < static_cast<std::size_t>(num_active_groups()); ++gi) {
    // torch.optim's per-group loop: the same update with the group's lr, momentum and weight_decay.
    const ParamGroupDef& g = groups_[gi];
    const OptimizerConfig& c = configs_[gi];
    const double lr = lrs_[gi], momentum = momentums_[gi];
    // torch's state["step"] of the group's parameters (a backbone's group counts from its joining).
    const std::int64_t steps = group_step_count(static_cast<int>(gi));
    const bool first_step = steps == 1;
    // NAdam's running product of momenta and ASGD's eta advance once per step, not once per part.
    NadamScalars nadam{};
    AsgdScalars asgd{};
    if (c.kind == OptimizerKind::nadam) {
      nadam = nadam_scalars(lr, momentum, c.beta2, c.momentum_decay, steps, group_states_[gi]);
      group_states_[gi] = nadam.mu_product;
    } else if (c.kind == OptimizerKind::asgd) {
      asgd = asgd_scalars(lr, c.lambd, c.alpha, c.t0, steps, group_states_[gi]);
      group_states_[gi] = asgd.next_eta;
    }
    // Every update is elementwise: the group's elements split among the step's threads.
    constexpr std::int64_t kPartElements = 16384;
    parallel_for_aligned(g.count, kPartElements, [&](std::int64_t lo, std::int64_t hi) {
      const std::int64_t b = g.begin + lo, n = hi - lo;
      switch (c.kind) {
        case OptimizerKind::sgd: {
          const SgdArgs args{lr, momentum, c.dampening, c.weight_decay, c.nesterov, c.maximize};
          sgd_step(param + b, grad + b, c.momentum != 0.0 ? slot_region(model_, arena_, 0) + b : nullptr, n, args,
                   first_step);
          break;
        }
        case OptimizerKind::adam:
        case OptimizerKind::adamw: {
          const AdamArgs args{
              lr, momentum, c.beta2, c.eps, c.weight_decay, c.amsgrad, c.maximize, c.kind == OptimizerKind::adamw};
          adam_step(param + b, grad + b, slot_region(model_, arena_, 0) + b, slot_region(model_, arena_, 1) + b,
                    c.amsgrad ? slot_region(model_, arena_, 2) + b : nullptr, n, args, steps);
          break;
        }
        case OptimizerKind::adamax: {
          const AdamaxArgs args{lr, momentum, c.beta2, c.eps, c.weight_decay, c.maximize};
          adamax_step(param + b, grad + b, slot_region(model_, arena_, 0) + b, slot_region(model_, arena_, 1) + b, n,
                      args, steps);
          break;
        }
        case OptimizerKind::radam: {
          const RadamArgs args{lr, momentum, c.beta2, c.eps, c.weight_decay, c.decoupled_weight_decay, c.maximize};
          radam_step(param + b, grad + b, slot_region(model_, arena_, 0) + b, slot_region(model_, arena_, 1) + b, n,
                     args, steps);
          break;
        }
        case OptimizerKind::nadam: {
          const NadamArgs args{
              lr, momentum, c.beta2, c.eps, c.weight_decay, c.momentum_decay, c.decoupled_weight_decay, c.maximize};
          nadam_step(param + b, grad + b, slot_region(model_, arena_, 0) + b, slot_region(model_, arena_, 1) + b, n,
                     args, nadam);
          break;
        }
        case OptimizerKind::rmsprop: {
          // Slots: square_avg, then momentum_buffer (with a momentum), then grad_avg (centered).
          const bool buffer = c.momentum > 0.0;
          const RmspropArgs args{lr, c.alpha, c.eps, c.weight_decay, momentum, c.centered, c.maximize};
          rmsprop_step(param + b, grad + b, slot_region(model_, arena_, 0) + b,
                       buffer ? slot_region(model_, arena_, 1) + b : nullptr,
                       c.centered ? slot_region(model_, arena_, buffer ? 2 : 1) + b : nullptr, n, args);
          break;
        }
        case OptimizerKind::adagrad: {
          const AdagradArgs args{lr, c.lr_decay, c.weight_decay, c.initial_accumulator_value, c.eps, c.maximize};
          adagrad_step(param + b, grad + b, slot_region(model_, arena_, 0) + b, n, args, steps);
          break;
        }
        case OptimizerKind::adadelta: {
          const AdadeltaArgs args{lr, c.rho, c.eps, c.weight_decay, c.maximize};
          adadelta_step(param + b, grad + b, slot_region(model_, arena_, 0) + b, slot_region(model_, arena_, 1) + b, n,
                        args);
          break;
        }
        case OptimizerKind::rprop: {
          const RpropArgs args{lr, c.etaminus, c.etaplus, c.step_size_min, c.step_size_max, c.maximize};
          rprop_step(param + b, grad + b, slot_region(model_, arena_, 0) + b, slot_region(model_, arena_, 1) + b, n,
                     args, first_step);
          break;
        }
        case OptimizerKind::asgd:
          asgd_step(param + b, grad + b, slot_region(model_, arena_, 0) + b, n, c.weight_decay, c.maximize, asgd);
          break;
        case OptimizerKind::lbfgs:  // refused above
          break;
      }
    });
  }
}

float Optimizer::step_lbfgs(const LbfgsClosure& closure) {
  const OptimizerConfig& c = model_.optimizer;
  if (c.kind != OptimizerKind::lbfgs)
    throw Error(std::string("internal: step_lbfgs on a model whose optimizer is ") + optimizer_name(c.kind));
  const LbfgsArgs args{lrs_[0],        c.max_iter,     c.max_eval, c.tolerance_grad, c.tolerance_change,
                       c.history_size, c.strong_wolfe, c.maximize};
  ++step_count_;
  return lbfgs_step(args, *lbfgs_, param_region(model_, arena_), grad_region(model_, arena_),
                    trainable_elements(model_), closure);
}

void Optimizer::count_device_step() {
  ++step_count_;
  const std::size_t active = static_cast<std::size_t>(num_active_groups());
  for (std::size_t gi = 0; gi < group_states_.size() && gi < active; ++gi) {  // as step() advances them
    const OptimizerConfig& c = configs_[gi];
    const std::int64_t steps = group_step_count(static_cast<int>(gi));
    float& state = group_states_[gi];
    state = c.kind == OptimizerKind::nadam
                ? nadam_scalars(lrs_[gi], momentums_[gi], c.beta2, c.momentum_decay, steps, state).mu_product
                : asgd_scalars(lrs_[gi], c.lambd, c.alpha, c.t0, steps, state).next_eta;
  }
}

}  // namespace ltrt
