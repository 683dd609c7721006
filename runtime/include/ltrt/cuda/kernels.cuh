// The runtime's own kernels over the flat regions of the device arena: torch.optim's SGD,
// Adam and AdamW as one fused kernel each over every parameter, and gradient clipping.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "ltrt/backend.hpp"
#include "ltrt/cuda/context.cuh"
#include "ltrt/metrics.hpp"
#include "ltrt/model.hpp"

namespace ltrt::cuda {

// One optimizer step over the flat parameter region, a launch per parameter group, reading this
// step's scalars from ctx.scalars (the CPU kernels' arithmetic, element for element). slots:
// num_slots regions of n elements.
void optimizer_step(const Context& ctx, const OptimizerConfig& config, const std::vector<ParamGroupDef>& groups,
                    float* param, const float* grad, float* slots, std::int64_t n);

// GradScaler.unscale_ ("16-mixed"): torch._amp_foreach_non_finite_check_and_unscale_ over the flat
// gradient region, each gradient times scalars->inv_scale, and scalars->found_inf set to 1 when
// one is an infinity or NaN (every thread that finds one writes the same 1: no order matters).
void unscale_gradients(const Context& ctx, float* grad, std::int64_t n, StepScalars* scalars);

// torch.nn.utils.clip_grad_norm_ (norm in float64, coefficient max_norm / (norm + 1e-6), applied
// when below 1) or clip_grad_value_ over the flat gradient region, on the device. `scratch`
// holds kClipBlocks doubles and one float.
constexpr int kClipBlocks = 256;
void clip_gradients(const Context& ctx, float* grad, std::int64_t n, float clip_val, bool by_value, void* scratch);

// The stat scores the evaluation batches since the last take added for shape's Metric objects
// (EpochCounts' layout), read back (waits for the stream), then cleared for the next evaluation.
std::vector<std::int64_t> take_epoch_counts(const Context& ctx, const MetricsShape& shape);

// An evaluation batch of n rows: its loss (a device float) and each of shape's metrics added to
// the running sums in device memory, weighted by n.
void add_eval_metrics(const Context& ctx, EvalSums* sums, const float* loss, const float* out, const void* target,
                      const MetricsShape& shape, int n);

// EMAWeightAveraging's update (torch's get_ema_avg_fn) over n elements of the averaged model's
// copy: decay * average + (1 - decay) * model, each as ltrt/averaged_model.hpp's ema_value.
void ema_update(const Context& ctx, float* average, const float* model, std::int64_t n, float decay,
                float one_minus_decay);
void ema_update(const Context& ctx, std::int64_t* average, const std::int64_t* model, std::int64_t n, float decay,
                float one_minus_decay);
// StochasticWeightAveraging's update of the parameters (Lightning's avg_fn) over n elements:
// average + (model - average) / (n_averaged + 1), as ltrt/averaged_model.hpp's swa_value.
void swa_update(const Context& ctx, float* average, const float* model, std::int64_t n, std::int64_t n_averaged);
// WeightAveraging's running mean on the GPU: AveragedModel without an avg_fn takes torch's
// get_swa_multi_avg_fn there, torch._foreach_lerp_(average, model, 1 / (n_averaged + 1)), as
// ltrt/lerp.hpp's lerp. (Its integer branch, num_batches_tracked's, raises in torch: addcdiv on
// integers.)
void lerp_update(const Context& ctx, float* average, const float* model, std::int64_t n, std::int64_t n_averaged);

// The scalars of the next optimizer step, computed as runtime/src/sgd.cpp and adam.cpp compute
// theirs; `steps` each group's count after this step (torch's state["step"]: Optimizer::
// group_step_count + 1, which a BackboneFinetuning's group starts later), `lrs` and `momentums` each
// group's lr and SGD momentum or Adam beta1 now (Optimizer::lrs, momentums), `group_states` NAdam's
// mu_product or ASGD's eta before this step (Optimizer::group_states; empty for the other optimizers).
void set_optimizer_scalars(StepScalars& s, const OptimizerConfig& config, const std::vector<ParamGroupDef>& groups,
                           const std::vector<double>& lrs, const std::vector<double>& momentums,
                           const std::vector<float>& group_states, const std::array<std::int64_t, kMaxParamGroups>& steps);

}  // namespace ltrt::cuda
