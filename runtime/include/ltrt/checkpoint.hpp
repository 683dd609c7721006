// Checkpoints and weight files (safetensors).
//
// A checkpoint is one safetensors file that safetensors.torch.load_file opens:
//   state_dict.<param>           float32, the parameter's shape
//   state_dict.<buffer>          the model's state (ModelDef::state): BatchNorm's running_mean and
//                                running_var (float32), num_batches_tracked (int64)
//   optimizer.<param>.<slot>     float32, per optimizer slot ("exp_avg", ...)
//   optimizer.lbfgs.<name>       LBFGS's state (torch keeps it under its first parameter): d and
//                                prev_flat_grad (n,), old_dirs.<i> and old_stps.<i> (n,) for each of
//                                the history's updates, oldest first, ro (history,); its scalars in
//                                the "optimizer" metadata's "lbfgs"
//   current_model_state.<name>   with a WeightAveraging callback (Lightning's on_save_checkpoint):
//                                the model's own parameters and buffers, while state_dict.* holds
//                                the averaged model's
//   average_model_state.<name>   with a StochasticWeightAveraging callback: its averaged model
//                                (Lightning keeps it in the callback's state; state_dict.* is the
//                                model's own)
//   __metadata__                 "format": "pt", and JSON text for:
//     "epoch"           the epoch the checkpoint was saved at the end of
//                       (Lightning's checkpoint["epoch"]); resuming starts at
//                       epoch + 1
//     "global_step"     optimizer steps taken (Lightning's global_step)
//     "optimizer"       {"type": "Adam", "step": <torch's state["step"]>, "lr": [each group's],
//                        "lbfgs": {"func_evals", "n_iter", "t", "H_diag", "prev_loss", "history"} for LBFGS
//                        ("t" and the rest null before its first iteration),
//                        "backbone_added_at": <the step BackboneFinetuning's group joined at, or
//                        null; only for a model.backbone>}
//     "rng_states"      {"init": ..., "data": ..., "dropout": ...}
//     "spec_hash"       the spec's hash, as a JSON string
//     "hparams"         the spec, as read
//     "loops"           {"batches_that_stepped", "batch_in_epoch", "advance_end_pending",
//                        "epoch_start_rng_data"}: where in the epoch it was saved
//     "lr_schedulers"   the scheduler's state, a list of them (one per parameter group) when the
//                       optimizer has several groups, or null
//     "callbacks"       {state_key: state} of the callbacks
//     "averaging_state" {"n_averaged": N}, beside current_model_state.*
//     "user"            {key: value} strings a hooks file's on_save_checkpoint put in
//                       trainer.checkpoint (Lightning's checkpoint dict takes the hook's entries);
//                       absent when it put none
//     "checksum"        "crc32c:XXXXXXXX" over the tensors (names, dtypes, shapes,
//                       bytes) and the other metadata: loading refuses a file
//                       whose contents no longer match (a file without one is
//                       taken as it is)
// A weights-only checkpoint (ModelCheckpoint(save_weights_only=True)) holds
// state_dict.* and epoch/global_step/spec_hash/hparams/user/checksum only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ltrt/grad_scaler.hpp"
#include "ltrt/json.hpp"
#include "ltrt/lbfgs.hpp"
#include "ltrt/model.hpp"

namespace ltrt {

// A WeightAveraging checkpoint's second model (ltrt/weight_averaging.hpp): its parameters and
// buffers in model_state_bytes' layout, and AveragedModel.n_averaged. With `stochastic`, the
// StochasticWeightAveraging's averaged model instead (its n_averaged is in the callback's state).
struct AveragingState {
  std::vector<std::byte> values;
  std::int64_t n_averaged = 0;
  bool stochastic = false;
};

// Everything of a fit besides the tensors.
struct TrainState {
  std::int64_t epoch = 0;
  std::int64_t global_step = 0;
  std::int64_t optimizer_step = 0;
  std::string rng_data, rng_dropout;  // Generator::state()
  json::Value loops;          // the fit loop's position (see above)
  json::Value lr_schedulers;  // LrScheduler::state(), a list of one per parameter group, or null
  json::Value callbacks;      // Callbacks::state()
  bool weights_only = false;
  std::string vocabulary;     // a text source's vocabulary (token i is byte vocabulary[i]); empty: none
  // NAdam's mu_product or ASGD's eta, per parameter group (Optimizer::group_states); else empty
  std::vector<float> group_states;
  // Each parameter group's learning rate when saved (torch's param_groups[g]["lr"], which a hook may
  // have set); empty in checkpoints of earlier ltgen versions.
  std::vector<double> lrs;
  // LBFGS's state (Optimizer::lbfgs_state); absent for the other optimizers.
  std::shared_ptr<const LbfgsState> lbfgs;
  // BackboneFinetuning: the optimizer step count when the backbone's group joined, -1 before
  // (Optimizer::backbone_added_at; "optimizer": {"backbone_added_at": N or null}).
  std::int64_t backbone_added_at = -1;
  // "16-mixed" on the GPU: the GradScaler's state, as Lightning saves it under "MixedPrecision";
  // absent otherwise (and a resume without it starts a fresh scaler, as Lightning's does).
  std::optional<GradScaler> grad_scaler;
  // WeightAveraging. Saving: the averaged model, written as state_dict.* while the arena's values
  // become current_model_state.*. Loading: current_model_state.* when the checkpoint has it (the
  // arena gets state_dict.*, as Lightning's restore_model loads it before the callbacks' hooks).
  // StochasticWeightAveraging (`stochastic`): the averaged model as average_model_state.*, both
  // ways; the arena's values are state_dict.*.
  std::optional<AveragingState> averaging;
  // What on_save_checkpoint put in trainer.checkpoint; on loading, what on_load_checkpoint finds there.
  std::map<std::string, std::string> user;
};

// Writes atomically (a reader or a crash never sees half a file).
void save_checkpoint(const std::string& path, const ModelDef& model, const std::byte* arena,
                     const TrainState& state);

// Restores parameters and optimizer slots into the arena and returns the
// rest. Throws ltrt::Error naming the file (and the tensor) when the spec hash
// differs, a tensor is missing or extra, or a shape or dtype is wrong; the
// arena may be partly written then.
TrainState load_checkpoint(const std::string& path, const ModelDef& model, std::byte* arena);

// The text source's vocabulary a checkpoint or weights file of ltgen records (token i is byte
// i of the result); "" when it records none.
std::string checkpoint_vocabulary(const std::string& path);
// The entries a hooks file's on_save_checkpoint saved in a checkpoint ("user"); empty when none.
std::map<std::string, std::string> checkpoint_user_entries(const std::string& path);

// --init_weights: a safetensors file of weights only, as
// safetensors.torch.save_file(model.state_dict(), path) writes (bare names,
// "layers.0.weight") or with "state_dict." prefixes (an ltgen checkpoint,
// whose optimizer.* tensors are then ignored). float32 or float64 (converted).
// Strict like load_state_dict(strict=True): every parameter and state buffer
// (running_mean, running_var: F32/F64; num_batches_tracked: I64) present with its
// shape, no other tensors; otherwise ltrt::Error naming the file and tensor.
void load_weights(const std::string& path, const ModelDef& model, std::byte* arena);

}  // namespace ltrt
