// lightning.pytorch.callbacks.BackboneFinetuning (Lightning 2.x finetuning.py): the LightningModule's
// `backbone` (the spec's model.backbone) is frozen before configure_optimizers, joins the optimizer
// as a parameter group of its own at `unfreeze_backbone_at_epoch`'s start with lr
// `backbone_initial_lr` (or group 0's lr times `backbone_initial_ratio_lr`), and at each later
// epoch's start that group's lr becomes `lambda_func(epoch + 1)` times the last one, no higher than
// group 0's when `should_align`.
//
// The generator lays the backbone out as the model's last parameter group (ModelDef::backbone_group)
// and computes its gradients in every step; Optimizer leaves the group out until the callback adds it
// (Optimizer::add_backbone_group).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "ltrt/callbacks.hpp"
#include "ltrt/python_lambda.hpp"

namespace ltrt {

class ConfigObject;

struct BackboneFinetuningOptions {
  std::int64_t unfreeze_backbone_at_epoch = 10;
  // lambda_func: Lightning's default is finetuning.multiplicative, which returns 2.0 (unset here).
  std::optional<PythonLambda> lambda_func;
  double backbone_initial_ratio_lr = 0.1;
  std::optional<double> backbone_initial_lr;
  bool should_align = true;
  double initial_denom_lr = 10.0;  // unused by BackboneFinetuning, which always passes an lr
  bool train_bn = true;
  bool verbose = false;
  std::int64_t rounding = 12;
};

class BackboneFinetuning : public Callback {
 public:
  explicit BackboneFinetuning(BackboneFinetuningOptions options) : o_(std::move(options)) {}
  // init_args as Lightning's constructor takes them; lambda_func as a Python lambda's text
  // ("lambda epoch: 1.5", ltrt/python_lambda.hpp).
  static std::unique_ptr<BackboneFinetuning> read(ConfigObject& init_args);

  const char* class_name() const override { return "BackboneFinetuning"; }
  const BackboneFinetuningOptions& options() const { return o_; }
  // {"previous_backbone_lr": lr or null}; Lightning's state also lists the optimizer's groups by
  // parameter name (internal_optimizer_metadata), which the checkpoint's optimizer entry holds here.
  json::Value state() const override;
  void load_state(const json::Value& state) override;

  void on_train_epoch_start(const CallbackContext& ctx) override;

  // The backbone group's lr the epoch after one that used `previous` (finetune_function's
  // `epoch > unfreeze_backbone_at_epoch` branch), with group 0's lr `current`.
  double next_lr(std::int64_t epoch, double previous, double current) const;

 private:
  BackboneFinetuningOptions o_;
  std::optional<double> previous_backbone_lr_;
};

// What a BackboneFinetuning among `callbacks` needs and ltgen does not support beside it yet, as a
// message about trainer.callbacks naming the fix, or "": a program generated with model.backbone and the callback
// (`model_has_backbone`, ModelDef::backbone_group) and neither without the other; no LR scheduler,
// StochasticWeightAveraging or LearningRateFinder; no DDP. ltgen says it where it
// reads the spec, the program again for a command line's overrides.
std::string backbone_finetuning_refusal(const Callbacks& callbacks, bool model_has_backbone, bool has_scheduler,
                                        bool distributed);

}  // namespace ltrt
