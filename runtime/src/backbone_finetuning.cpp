// BackboneFinetuning with Lightning 2.x's rules (lightning/pytorch/callbacks/finetuning.py).
#include "ltrt/backbone_finetuning.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "ltrt/config_reader.hpp"
#include "ltrt/learning_rate_finder.hpp"
#include "ltrt/stochastic_weight_averaging.hpp"
#include "ltrt/error.hpp"
#include "ltrt/optimizer.hpp"
#include "ltrt/python_repr.hpp"

namespace ltrt {

namespace {

// Python's round(x, ndigits) of a float, ndigits >= 0: the correctly rounded decimal (glibc's printf rounds the
// exact binary value half to even, as CPython's dtoa does), read back as the nearest double.
double python_round(double x, std::int64_t ndigits) {
  if (!std::isfinite(x) || ndigits > 300) return x;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(ndigits), x);
  return std::strtod(buf, nullptr);
}

}  // namespace

std::unique_ptr<BackboneFinetuning> BackboneFinetuning::read(ConfigObject& init) {
  BackboneFinetuningOptions o;
  o.unfreeze_backbone_at_epoch =
      init.integer("unfreeze_backbone_at_epoch", o.unfreeze_backbone_at_epoch, 0);
  if (const json::Value* f = init.get("lambda_func"); f && !f->is_null()) {
    if (!f->is_string())
      throw ConfigError(init.path_of("lambda_func"), f->pos,
                        "expected a Python lambda of the epoch as a string, e.g. \"lambda epoch: 1.5\", got " +
                            describe(*f));
    try {
      o.lambda_func.emplace(f->str);
    } catch (const Error& e) {
      throw ConfigError(init.path_of("lambda_func"), f->pos, e.what());
    }
  }
  const double inf = std::numeric_limits<double>::infinity();
  o.backbone_initial_ratio_lr = init.number("backbone_initial_ratio_lr", o.backbone_initial_ratio_lr, 0, inf);
  if (const json::Value* lr = init.get("backbone_initial_lr"); lr && !lr->is_null()) {
    if (!lr->is_number() || !std::isfinite(lr->num) || lr->num < 0)
      throw ConfigError(init.path_of("backbone_initial_lr"), lr->pos,
                        "expected a learning rate >= 0 or null, got " + describe(*lr));
    o.backbone_initial_lr = lr->num;
  }
  o.should_align = init.boolean("should_align", o.should_align);
  o.initial_denom_lr = init.number("initial_denom_lr", o.initial_denom_lr, -inf, inf);
  o.train_bn = init.boolean("train_bn", o.train_bn);
  o.verbose = init.boolean("verbose", o.verbose);
  o.rounding = init.integer("rounding", o.rounding, 0);
  init.finish();
  return std::make_unique<BackboneFinetuning>(std::move(o));
}

json::Value BackboneFinetuning::state() const {
  json::Value s = json::Value::make_object();
  s.set("previous_backbone_lr", previous_backbone_lr_ ? state_number(*previous_backbone_lr_) : json::Value());
  return s;
}

void BackboneFinetuning::load_state(const json::Value& state) {
  const json::Value* lr = state.is_object() ? state.find("previous_backbone_lr") : nullptr;
  if (lr == nullptr) throw Error("BackboneFinetuning: the state has no 'previous_backbone_lr'");
  previous_backbone_lr_.reset();
  if (!lr->is_null()) previous_backbone_lr_ = read_state_number(*lr, "BackboneFinetuning's previous_backbone_lr");
}

double BackboneFinetuning::next_lr(std::int64_t epoch, double previous, double current) const {
  double factor = 2.0;  // finetuning.multiplicative
  if (o_.lambda_func) {
    try {
      factor = (*o_.lambda_func)(epoch + 1).as_float();
    } catch (const Error& e) {
      throw Error("BackboneFinetuning: lambda_func(" + std::to_string(epoch + 1) + ") raised " + e.what() + " (" +
                  o_.lambda_func->text() + ")");
    }
  }
  const double next = factor * previous;
  return o_.should_align && next > current ? current : next;
}

void BackboneFinetuning::on_train_epoch_start(const CallbackContext& ctx) {
  if (ctx.optimizer == nullptr) throw Error("BackboneFinetuning: the trainer gave it no optimizer");
  Optimizer& optimizer = *ctx.optimizer;
  const double current = optimizer.lr(0);  // optimizer.param_groups[0]["lr"]
  double backbone = 0;
  if (ctx.current_epoch == o_.unfreeze_backbone_at_epoch) {
    backbone = o_.backbone_initial_lr ? *o_.backbone_initial_lr : current * o_.backbone_initial_ratio_lr;
    optimizer.add_backbone_group(backbone);  // unfreeze_and_add_param_group(..., lr=backbone)
    if (optimizer.model().backbone_has_batch_norm) {  // filter_on_optimizer's warning
      std::string module = optimizer_name(optimizer.model().optimizer.kind);
      for (char& c : module) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      ctx.emit_warning("The provided params to be frozen already exist within another group of this optimizer. "
                       "Those parameters will be skipped.\nHINT: Did you init your optimizer in "
                       "`configure_optimizer` as such:\n <class 'torch.optim." + module + "." +
                       optimizer_name(optimizer.model().optimizer.kind) +
                       "'>(filter(lambda p: p.requires_grad, self.parameters()), ...) ");
    }
  } else if (ctx.current_epoch > o_.unfreeze_backbone_at_epoch) {
    if (!previous_backbone_lr_)
      throw Error("BackboneFinetuning: epoch " + std::to_string(ctx.current_epoch) +
                  " is past unfreeze_backbone_at_epoch but the backbone was never unfrozen (a checkpoint of "
                  "another callback setup?)");
    backbone = next_lr(ctx.current_epoch, *previous_backbone_lr_, current);
    optimizer.set_lr(optimizer.num_active_groups() - 1, backbone);  // optimizer.param_groups[-1]["lr"]
  } else {
    return;
  }
  previous_backbone_lr_ = backbone;
  if (ctx.optimizer_changed) ctx.optimizer_changed();
  if (o_.verbose)  // log.info on the lightning.pytorch logger
    ctx.emit_info("Current lr: " + python_repr(python_round(current, o_.rounding)) +
                  ", Backbone lr: " + python_repr(python_round(backbone, o_.rounding)));
}

std::string backbone_finetuning_refusal(const Callbacks& callbacks, bool model_has_backbone, bool has_scheduler,
                                        bool distributed) {
  const std::string prefix = "BackboneFinetuning ";
  if (!callbacks.backbone_finetuning()) {
    if (!model_has_backbone) return "";
    return "the program was generated for a BackboneFinetuning callback (model.backbone, a "
           "parameter group that joins at its unfreeze epoch), which the callbacks given now leave out: add it "
           "back, or generate the program without it";
  }
  if (!model_has_backbone)
    return prefix + "needs the LightningModule's `backbone` (Lightning: 'The LightningModule should have a "
                    "nn.Module `backbone` attribute'): name its parameters in the spec's model.backbone and "
                    "generate the program with the callback";
  if (has_scheduler)
    return prefix + "with an lr_scheduler is not supported yet (torch's schedulers each treat the group it adds "
                    "in their own way): leave lr_scheduler out";
  for (const auto& cb : callbacks.list()) {
    const char* other = dynamic_cast<const StochasticWeightAveraging*>(cb.get()) ? "StochasticWeightAveraging"
                        : dynamic_cast<const LearningRateFinder*>(cb.get())        ? "LearningRateFinder"
                                                                                   : nullptr;
    if (other)
      return prefix + "beside " + other + " is not supported yet (both change or read the optimizer's groups): "
                      "leave one of them out";
  }
  if (distributed)
    return prefix + "under DDP is not supported: torch's DistributedDataParallel registers the parameters that "
                    "require a gradient when it wraps the model, so once the backbone is unfrozen its gradients "
                    "would not be averaged across the processes; train on one device";
  return "";
}

}  // namespace ltrt
