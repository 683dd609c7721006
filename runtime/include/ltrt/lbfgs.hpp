// torch.optim.LBFGS over the flat float32 parameter and gradient regions: one optimizer step runs
// up to max_iter L-BFGS iterations, each re-evaluating the closure (the batch's forward and
// backward), with a fixed step or torch's strong-Wolfe line search.
//
// torch keeps some scalars as float32 tensors and others as Python floats, and the two round
// differently; the step follows which is which (lbfgs.cpp). Its dot products are float32 BLAS dots
// (MKL's order in PyPI's wheels), which this sums in double and rounds once: values agree with
// torch's to a rounding per dot, not bit for bit.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ltrt {

class Callbacks;
struct TrainerConfig;

// LBFGS's arguments (max_eval resolved: torch's default is max_iter * 5 // 4).
struct LbfgsArgs {
  double lr;
  std::int64_t max_iter, max_eval;
  double tolerance_grad, tolerance_change;
  std::int64_t history_size;
  bool strong_wolfe;  // line_search_fn="strong_wolfe"; else a fixed step of lr
  bool maximize;
};

// torch's state of the first parameter (LBFGS keeps its state there): what a checkpoint saves.
struct LbfgsState {
  std::int64_t func_evals = 0, n_iter = 0;
  // d, t, the history, H_diag, prev_flat_grad and prev_loss exist once a step has run an iteration
  // (n_iter > 0 without them: a checkpoint saved inside the first step, which torch cannot resume).
  bool has_direction = false;
  std::vector<float> d, prev_flat_grad;
  double t = 0;  // the last step length (torch's float32 tensor or Python float: float32 either way where it is read)
  std::deque<std::vector<float>> old_dirs, old_stps;  // y and s of the last history_size updates, oldest first
  std::deque<float> ro;                               // 1 / (y . s) of each
  float h_diag = 1.0f;
  double prev_loss = 0;
};

// The batch's loss at the parameters as they are now, with its gradient written into the gradient
// region: Lightning's closure (training_step, zero_grad, backward, then on_before_optimizer_step and
// clipping).
using LbfgsClosure = std::function<float()>;

// One optimizer.step(closure) over n parameters. Returns the first evaluation's loss (torch's
// orig_loss); the closure's last call leaves the batch's last loss, outputs and gradients.
float lbfgs_step(const LbfgsArgs& args, LbfgsState& state, float* param, const float* grad, std::int64_t n,
                 const LbfgsClosure& closure);

// What of the trainer ltgen's LBFGS does not take, with a message: accumulated
// batches (Lightning's closure would then keep adding to the gradients), the callbacks that change
// the optimizer's groups or skip its closure, several processes, and "16-mixed" on a GPU (`on_gpu`),
// whose GradScaler Lightning refuses beside LBFGS.
struct LbfgsRefusal {
  std::string key;      // the trainer argument refused: "accumulate_grad_batches", "callbacks", ...
  std::string message;  // empty: nothing is
};
LbfgsRefusal lbfgs_refusal(const TrainerConfig& trainer, const Callbacks& callbacks, bool on_gpu);

}  // namespace ltrt
