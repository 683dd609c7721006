// ltrt::Trainer, the view of the trainer that user hooks receive.
#include "ltrt/hooks.hpp"

#include <string>

#include "ltrt/arena.hpp"
#include "ltrt/config_reader.hpp"
#include "ltrt/error.hpp"
#include "ltrt/model.hpp"
#include "ltrt/optimizer.hpp"

namespace ltrt {

double Trainer::lr() const { return access_.optimizer ? access_.optimizer->lr() : access_.spec_lr; }

void Trainer::set_lr(double lr) {
  if (!access_.optimizer) throw Error("trainer.set_lr: there is no optimizer outside fit");
  if (!(lr >= 0))
    throw Error("trainer.set_lr: the learning rate must be a non-negative number, got " + std::to_string(lr));
  access_.optimizer->set_lr(lr);
}

int Trainer::num_param_groups() const {
  if (access_.optimizer) return access_.optimizer->num_active_groups();
  return configured_param_groups(*access_.model);  // outside fit
}

namespace {

// requires_grad=False now: model.freeze's, and a backbone's until BackboneFinetuning unfreezes it.
bool frozen_now(const ModelDef& m, const ParamDef& p, const Optimizer* optimizer) {
  if (is_frozen(m, p)) return true;
  if (!m.backbone_group || (optimizer && optimizer->backbone_added())) return false;
  const ParamGroupDef& backbone = m.param_groups[m.num_param_groups - 1];
  return static_cast<std::int64_t>(p.flat_index) >= backbone.begin;
}

}  // namespace

double Trainer::lr(int group) const {
  if (group < 0 || group >= num_param_groups())
    throw Error("trainer.lr(" + std::to_string(group) + "): the optimizer has " +
                std::to_string(num_param_groups()) + " parameter groups");
  return access_.optimizer ? access_.optimizer->lr(group) : param_groups_of(*access_.model)[static_cast<std::size_t>(group)].lr;
}

void Trainer::set_lr(int group, double lr) {
  if (!access_.optimizer) throw Error("trainer.set_lr: there is no optimizer outside fit");
  if (group < 0 || group >= num_param_groups())
    throw Error("trainer.set_lr(" + std::to_string(group) + ", ...): the optimizer has " +
                std::to_string(num_param_groups()) + " parameter groups");
  if (!(lr >= 0))
    throw Error("trainer.set_lr: the learning rate must be a non-negative number, got " + std::to_string(lr));
  access_.optimizer->set_lr(group, lr);
}

void Trainer::save_checkpoint(const std::string& path) {
  if (!access_.save) throw Error("trainer.save_checkpoint: checkpoints are saved during fit only");
  if (path.empty()) throw Error("trainer.save_checkpoint: the path is empty");
  access_.save(access_.self, path);
}

std::vector<std::string> Trainer::parameter_names() const {
  std::vector<std::string> names;
  for (int i = 0; i < access_.model->num_params; ++i) names.push_back(access_.model->params[i].value.name);
  return names;
}

bool Trainer::requires_grad(const std::string& name) const {
  const ModelDef& m = *access_.model;
  for (int i = 0; i < m.num_params; ++i)
    if (name == m.params[i].value.name) return !frozen_now(m, m.params[i], access_.optimizer);
  throw Error("trainer.requires_grad: the model has no parameter '" + name + "'" + did_you_mean(name, parameter_names()));
}

TensorView Trainer::view(const std::string& name, bool gradient) const {
  const ModelDef& m = *access_.model;
  for (int i = 0; i < m.num_params; ++i) {
    const ParamDef& p = m.params[i];
    if (name != p.value.name) continue;
    if (gradient && frozen_now(m, p, access_.optimizer))  // torch's .grad is None for requires_grad=False
      throw Error("trainer.grad: '" + name + "' is frozen (" +
                  (is_frozen(m, p) ? "model.freeze" : "model.backbone, until BackboneFinetuning unfreezes it") +
                  "): it has no gradient");
    TensorView v;
    v.shape.assign(p.value.shape, p.value.shape + p.value.rank);
    v.numel = p.value.numel();
    if (access_.fetch) access_.fetch(access_.self, i, gradient);
    const float* region = gradient ? grad_region(m, access_.arena) : param_region(m, access_.arena);
    v.data = region + p.flat_index;
    return v;
  }
  throw Error(std::string("trainer.") + (gradient ? "grad" : "parameter") + ": the model has no parameter '" + name +
              "'" + did_you_mean(name, parameter_names()));
}

TensorView Trainer::parameter(const std::string& name) const { return view(name, false); }
TensorView Trainer::grad(const std::string& name) const { return view(name, true); }

}  // namespace ltrt
