// The hook API of user hooks files ("hooks": "my_hooks.cpp" in a spec):
//
//   #include <ltrt/hooks.hpp>
//
//   void on_train_epoch_end(ltrt::Trainer& trainer) {
//     if (trainer.callback_metrics.at("train_loss") < 0.01) trainer.should_stop = true;
//   }
//
// Hooks are free functions at global scope with the names and signatures of
// ltrt/hook_list.hpp; ltgen checks them with Clang before it builds and the
// program calls the ones the file defines, directly. The trainer calls them as
// Lightning calls one more Callback appended to trainer.callbacks: after the
// spec's other callbacks and before the ModelCheckpoints (which Lightning
// moves to the end), so a checkpoint saved in a hook point already sees what
// the hook did there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "ltrt/error.hpp"  // what the Trainer's accessors throw
#include "ltrt/hook_list.hpp"

namespace ltrt {

struct ModelDef;
class Optimizer;

// A parameter or its gradient: float32, row-major, in PyTorch's layout.
struct TensorView {
  const float* data = nullptr;
  std::vector<std::int64_t> shape;
  std::int64_t numel = 0;
};

// What a hook sees of Lightning's Trainer. Fields are refreshed before every
// hook; should_stop (and the learning rate) are read back after it.
class Trainer {
 public:
  std::int64_t current_epoch = 0;  // trainer.current_epoch (read only: refreshed before each hook)
  std::int64_t global_step = 0;    // trainer.global_step: optimizer steps taken (read only)
  bool sanity_checking = false;    // trainer.sanity_checking: the validation before training
  bool should_stop = false;        // trainer.should_stop: set it to stop fit as Lightning does
                                   // (under DDP every rank must set it alike, as in Lightning)
  int global_rank = 0;             // trainer.global_rank: this process's rank under DDP (read only)
  int world_size = 1;              // trainer.world_size: DDP's processes (read only)
  bool is_global_zero = true;      // trainer.is_global_zero: rank 0, which logs and writes checkpoints
  // trainer.callback_metrics: train_loss, val_loss, ... (values written here are what EarlyStopping,
  // ModelCheckpoint and ReduceLROnPlateau read next). logged_metrics: what the loggers last received.
  std::map<std::string, double>& callback_metrics;
  const std::map<std::string, double>& logged_metrics;
  // Lightning's checkpoint dict for on_save_checkpoint and on_load_checkpoint: what on_save_checkpoint
  // puts here (trainer.checkpoint["seen"] = std::to_string(seen)) is saved in the checkpoint, and
  // on_load_checkpoint finds the restored checkpoint's entries here. Empty in every other hook.
  std::map<std::string, std::string> checkpoint;

  // The optimizer's learning rate: lr() is param_groups[0]["lr"]; set_lr sets every group's, as
  // `for g in optimizer.param_groups: g["lr"] = lr` (an LR scheduler's next step sets it again).
  double lr() const;
  void set_lr(double lr);
  // One parameter group's (optimizer.param_groups in the spec, in order; 0 <= group <
  // num_param_groups()): param_groups[group]["lr"].
  int num_param_groups() const;
  double lr(int group) const;
  void set_lr(int group, double lr);
  // trainer.save_checkpoint(path): a full checkpoint, as ModelCheckpoint writes, during fit.
  void save_checkpoint(const std::string& path);
  // A parameter and its gradient by PyTorch's name ("layers.0.weight"); a misspelt name throws
  // ltrt::Error with the nearest one. Gradients hold the last backward's values; a frozen
  // parameter (model.freeze) has none: grad throws, as torch's .grad is None (requires_grad says).
  TensorView parameter(const std::string& name) const;
  TensorView grad(const std::string& name) const;
  std::vector<std::string> parameter_names() const;
  bool requires_grad(const std::string& name) const;  // false for a frozen parameter

  // The runtime builds the Trainer; hooks only receive it.
  struct Access {
    const ModelDef* model = nullptr;
    std::byte* arena = nullptr;
    Optimizer* optimizer = nullptr;  // nullptr outside fit: lr() is the spec's, set_lr throws
    double spec_lr = 0;
    void (*save)(void* self, const std::string& path) = nullptr;  // nullptr outside fit
    // Makes parameter `param`'s values (or gradient) in the arena the training's current ones: a
    // GPU's are copied down. nullptr: the arena's are current.
    void (*fetch)(void* self, int param, bool gradient) = nullptr;
    void* self = nullptr;  // what save and fetch are called with
  };
  Trainer(std::map<std::string, double>& callback_metrics, const std::map<std::string, double>& logged_metrics,
          const Access& access)
      : callback_metrics(callback_metrics), logged_metrics(logged_metrics), access_(access) {}
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

 private:
  TensorView view(const std::string& name, bool gradient) const;
  Access access_;
};

// The type of every hook, for checking a definition against it: hook_types::on_fit_start.
namespace hook_types {
#define LTRT_HOOK_TYPE(name, params) using name = void params;
LTRT_HOOK_LIST(LTRT_HOOK_TYPE)
#undef LTRT_HOOK_TYPE
}  // namespace hook_types

}  // namespace ltrt
