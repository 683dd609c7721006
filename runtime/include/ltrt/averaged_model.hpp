// torch.optim.swa_utils.AveragedModel for a generated model: the layout of its copy of the
// parameters and module state, and update_parameters' arithmetic, as Lightning's
// WeightAveraging callbacks (ltrt/weight_averaging.hpp) use them. The backends keep the copy
// where the steps run (Backend::average_*); these functions are the host's arithmetic.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ltrt/host_device.hpp"
#include "ltrt/model.hpp"

namespace ltrt {

// What update_parameters does after its first call (which copies the model): torch's
// get_swa_avg_fn, the running mean avg + (model - avg) / (n + 1), or get_ema_avg_fn(decay),
// decay * avg + (1 - decay) * model.
struct AveragingRule {
  bool ema = false;
  double decay = 0.999;
  // AveragedModel(use_buffers=True): the module state (BatchNorm's running statistics and
  // num_batches_tracked) is averaged like the parameters; false: copied from the model.
  bool use_buffers = true;
  // StochasticWeightAveraging's update_parameters: the parameters alone (the first update copies
  // them); the copy's module state stays as it was made.
  bool parameters_only = false;
};

// The copy's layout: the flat parameter region (frozen parameters too: torch averages every
// parameter), then each state tensor (ModelDef::state) in order, each at its own offset.
std::size_t model_state_bytes(const ModelDef& model);
std::size_t model_state_offset(const ModelDef& model, int state);  // where state tensor `state` starts

// f(k, tensor, offset) for each state tensor k and its offset in the copy, in one pass (the offsets
// add up as it goes): what the per-step loops use.
template <typename F>
void for_each_state_offset(const ModelDef& model, F f) {
  const auto aligned = [](std::size_t n) { return (n + 7) / 8 * 8; };  // int64 tensors stay aligned
  std::size_t offset = aligned(static_cast<std::size_t>(model.num_param_elements) * sizeof(float));
  for (int k = 0; k < model.num_state; ++k) {
    const TensorRef& t = model.state[k].value;
    f(k, t, offset);
    offset = aligned(offset + static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype));
  }
}

// The model's parameters and state from the arena into a copy, and back.
void gather_model_state(const ModelDef& model, const std::byte* arena, std::byte* copy);
void scatter_model_state(const ModelDef& model, const std::byte* copy, std::byte* arena);

// AveragedModel.update_parameters on the CPU: `average` (a copy) from the model's values in the
// arena, `n_averaged` the updates before this one (0: the model is copied).
void update_average(const ModelDef& model, std::byte* average, const std::byte* arena, const AveragingRule& rule,
                    std::int64_t n_averaged);

// The elementwise arithmetic, in float32 as ATen computes it on the CPU (and, for EMA, on the GPU):
// a python float times a float32 tensor multiplies by the float32 of it, and (1 - decay) is a
// python float before that. An int64 buffer (num_batches_tracked) is promoted to float32 and the
// float32 result truncated back by copy_. The CUDA kernels call the same functions (the runtime's
// CUDA code is compiled with --fmad=false: nothing is fused there either).
LTRT_HOST_DEVICE inline float ema_value(float average, float model, float decay, float one_minus_decay) {
  const float kept = decay * average;
  const float added = one_minus_decay * model;
  return kept + added;
}
LTRT_HOST_DEVICE inline std::int64_t ema_value(std::int64_t average, std::int64_t model, float decay, float one_minus_decay) {
  return static_cast<std::int64_t>(ema_value(static_cast<float>(average), static_cast<float>(model), decay,
                                             one_minus_decay));
}
// get_swa_avg_fn: (model - avg) / (n_averaged + 1) with the count as a float32 divisor (a true
// division on either device: torch divides by the count's tensor, nvcc's `/` is IEEE's).
LTRT_HOST_DEVICE inline float swa_value(float average, float model, float count) {
  const float step = (model - average) / count;
  return average + step;
}
inline std::int64_t swa_value(std::int64_t average, std::int64_t model, float count) {
  // int64 - int64, then true division in float32, then int64 + float32 in float32.
  const float step = static_cast<float>(model - average) / count;
  return static_cast<std::int64_t>(static_cast<float>(average) + step);
}

}  // namespace ltrt
