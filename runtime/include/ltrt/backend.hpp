// Where a model's steps run: the trainer is one loop over a Backend. The host arena stays the
// place the data loader writes batches into and checkpoints read weights from; a device
// backend mirrors it (same layout) and copies what crosses over.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ltrt/arena.hpp"
#include "ltrt/averaged_model.hpp"
#include "ltrt/grad_scaler.hpp"
#include "ltrt/dropout_draws.hpp"
#include "ltrt/metrics.hpp"
#include "ltrt/model.hpp"
#include "ltrt/process_group.hpp"
#include "ltrt/trainer_config.hpp"

namespace ltrt {

class Optimizer;

// One training batch as the fit loop runs it.
struct TrainStep {
  int n;                // live rows of the batch in the host arena's batch buffers
  float loss_scale;     // 1 / accumulate_grad_batches
  bool accumulate;      // add to the gradients (not the first batch of an accumulation group)
  bool optimizer_step;  // the last batch of a group: clip, then step the optimizer
  double clip_val;      // gradient_clip_val; 0: no clipping
  bool clip_by_value;   // gradient_clip_algorithm == "value"
  // DDP: average the gradients across the ranks after this backward (the last batch of a group;
  // the others run under no_sync), before clipping and any hook that reads them.
  bool sync_gradients;
  // The optimizer's groups now (Optimizer::num_active_groups): a BackboneFinetuning's group joins at
  // its epoch; before, its gradients are left out of the GradScaler's check and of clipping.
  int active_groups;
};

// The running sums of an evaluation loop: each batch's loss (and each of model.metrics) times
// its rows, as WeightedMean adds them (Lightning's batch-size weighted mean over the epoch).
struct EvalSums {
  double loss = 0;
  double metric[kMaxMetrics] = {};  // in model.metrics' order
  std::int64_t rows = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Where the steps run, for the user: "cpu", "cuda:0 (NVIDIA H200)".
  virtual std::string device() const = 0;
  // Host arena -> device: parameters, module state and optimizer slots (after init or load).
  virtual void upload() = 0;
  // Device -> host arena: parameters, module state and optimizer slots (before a checkpoint).
  virtual void download() = 0;
  // Host arena -> device: the module state alone (StochasticWeightAveraging's BatchNorm epoch
  // resets the running statistics on the host, while the device holds the parameters the average
  // was written over and the gradients its one optimizer step uses).
  virtual void upload_state() = 0;
  // While on, the BatchNorm forwards generated with the switch (a spec with StochasticWeightAveraging
  // over BatchNorm) average their running statistics cumulatively, as momentum=None does.
  virtual void set_batch_norm_momentum_none(bool on) = 0;
  // Forward, backward and, when step.optimizer_step, clipping and the optimizer step (which
  // advances optimizer's step count). A device backend returns once the step is enqueued, so
  // that the host loads the next batch while the device computes: the step's results are read
  // only when asked for, with loss() and outputs(), which wait for it.
  virtual void train(const TrainStep& step, Optimizer& optimizer, DropoutDraws dropout) = 0;
  // The last train() step's loss. Valid until the next evaluate() or predict().
  virtual float loss() = 0;
  // The last train() step's outputs (n rows) into the host arena's metric_output buffer, for the metrics.
  // Valid until the next evaluate() or predict().
  virtual void outputs(int n) = 0;
  // Eval-mode forward and loss of the batch in the host arena. Its loss and model.metrics' values
  // go into the evaluation's running sums, which a device backend keeps
  // on the device: nothing waits for the batch.
  virtual void evaluate(int n) = 0;
  // The last evaluate()'s loss (waits for it), for user hooks that take each batch's loss.
  virtual float eval_loss() = 0;
  // The sums of the evaluate() calls since the last take (waits for them); they start again at 0.
  virtual EvalSums take_eval_sums() = 0;
  // The Metric objects' states after the evaluate() calls since the last take (each part empty
  // without an object that keeps it); they start again empty.
  virtual MetricStates take_eval_states() = 0;
  // Eval-mode forward into the host arena's output buffer.
  virtual void predict(int n) = 0;
  // Waits for the work queued on the device (nothing to wait for on the CPU).
  virtual void synchronize() {}

  // The training step in pieces, for user hooks that run inside it (ltrt/hook_calls.hpp's
  // in_step): forward and loss in train mode, waiting for the loss (a hook receives it); the
  // batch's outputs can then be read with outputs() ...
  virtual float train_forward(const TrainStep& step, DropoutDraws dropout) = 0;
  // ... backward from d(loss) = step.loss_scale over the activations train_forward left ...
  virtual void train_backward(const TrainStep& step) = 0;
  // ... and at the end of an accumulation group (after train(), or train_backward(), without
  // an optimizer step), clipping and the optimizer step, which reads the optimizer's learning
  // rate now (a hook may have set it) and advances its step count.
  virtual void step_optimizer(double clip_val, bool clip_by_value, Optimizer& optimizer) = 0;
  // DDP's buffer sync before a forward (DistributedDataParallel's broadcast_buffers): rank 0's
  // module state (BatchNorm's running statistics) into every rank's, where the steps run.
  virtual void broadcast_buffers() = 0;
  // "16-mixed" on the GPU, between them: GradScaler.unscale_ of the gradients before
  // on_before_optimizer_step, which sees them unscaled (Lightning's MixedPrecision plugin unscales
  // before its _after_closure); the step_optimizer that follows then does not unscale again.
  // Nothing on a backend that scales no loss.
  virtual void unscale_gradients() {}
  // The gradients set to zero: Lightning releases them (zero_grad, set_to_none) before a
  // validation inside fit, which user hooks see (they read a gradient that is None as zeros).
  virtual void zero_gradients() = 0;
  // Parameter `param`'s values, or its gradient, in the host arena made the backend's current
  // ones: user hooks read them there (trainer.parameter(), trainer.grad()).
  virtual void fetch_for_hooks(int param, bool gradient) = 0;
  // LBFGS steps on the host arena (Optimizer::step_lbfgs) between the closure's evaluations where
  // the steps run: the trainable parameters, or their gradients, into the host arena, and the host
  // arena's parameters back. Nothing to copy on the CPU.
  virtual void parameters_to_host() {}
  virtual void gradients_to_host() {}
  virtual void parameters_from_host() {}

  // WeightAveraging's averaged model (torch.optim.swa_utils.AveragedModel, ltrt/averaged_model.hpp):
  // a copy of the parameters and module state, in model_state_bytes' layout, kept where the steps
  // run. average_reset makes it, a copy of the model as it is now (AveragedModel(model)'s
  // deepcopy), and fixes the rule that average_update (update_parameters, n_averaged its count
  // before the call) then applies. Throws Error for a rule the backend does not reproduce.
  virtual void average_reset(const AveragingRule& rule) = 0;
  virtual void average_update(std::int64_t n_averaged) = 0;
  // The model's values and the copy's exchanged (WeightAveraging._swap_models), or the copy's
  // written over the model's (_copy_average_to_current; with parameters_only, the parameters
  // alone, as StochasticWeightAveraging.transfer_weights).
  virtual void average_swap() = 0;
  virtual void average_to_model(bool parameters_only = false) = 0;
  // The copy into host memory (model_state_bytes), for a checkpoint.
  virtual void average_read(std::byte* copy) = 0;

  // "16-mixed" on the GPU: the GradScaler's state after the steps so far (waiting for the last
  // one's verdict, which also settles the optimizer's step count), for a checkpoint; nullopt on a
  // backend that scales no loss.
  virtual std::optional<GradScaler> grad_scaler() { return std::nullopt; }
  // A checkpoint's GradScaler state, on resume; ignored by a backend that scales no loss (as
  // Lightning's bf16 and 32-bit plugins ignore it).
  virtual void restore_grad_scaler(const GradScaler&) {}
};

// The backend trainer.accelerator asks for: "cpu"; "gpu" (the program's CUDA steps, an error
// without a GPU); "auto": the GPU when the program has CUDA steps and a GPU is there, else the
// CPU. `log` gets one line saying which, for programs built with a CUDA backend. `group`: the
// ranks whose gradients a step averages (DDP: on the CPU, or one process a GPU).
std::unique_ptr<Backend> make_backend(const ModelDef& model, Arena& host, const TrainerConfig& trainer, std::FILE* log,
                                      const ProcessGroup& group);

// The CPU backend: the generated CPU steps on the host arena itself.
std::unique_ptr<Backend> make_cpu_backend(const ModelDef& model, Arena& host, const ProcessGroup& group);

// Rank 0's buffers (BatchNorm's running statistics) into every rank's host arena.
void broadcast_buffers(const ProcessGroup& group, const ModelDef& model, std::byte* arena);

// Clipping as torch.nn.utils does it, on the host's flat gradient region.
void clip_gradients(float* grad, std::int64_t n, double clip_val, bool by_value);

// The end of an accumulation group on the host arena: clip the gradients (clip_val > 0), then step
// the optimizer. The CPU backend's train() ends with it, as does the trainer's step in pieces for
// user hooks that run inside the step.
void clip_and_step(const ModelDef& model, std::byte* arena, double clip_val, bool clip_by_value, Optimizer& optimizer);

}  // namespace ltrt
