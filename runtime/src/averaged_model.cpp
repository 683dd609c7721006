// AveragedModel's copy of a model and update_parameters' arithmetic on the CPU.
#include "ltrt/averaged_model.hpp"

#include <cstring>

#include "ltrt/arena.hpp"

namespace ltrt {

namespace {

std::size_t tensor_bytes(const TensorRef& t) { return static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype); }

template <typename T>
void average_elements(T* average, const T* model, std::int64_t n, const AveragingRule& rule, std::int64_t n_averaged) {
  if (rule.ema) {
    const float decay = static_cast<float>(rule.decay);
    const float one_minus_decay = static_cast<float>(1.0 - rule.decay);  // a python float first
    for (std::int64_t i = 0; i < n; ++i) average[i] = ema_value(average[i], model[i], decay, one_minus_decay);
  } else {
    const float count = static_cast<float>(n_averaged + 1);
    for (std::int64_t i = 0; i < n; ++i) average[i] = swa_value(average[i], model[i], count);
  }
}

}  // namespace

std::size_t model_state_offset(const ModelDef& model, int state) {
  std::size_t at = 0;
  for_each_state_offset(model, [&](int k, const TensorRef&, std::size_t offset) {
    if (k == state) at = offset;
  });
  return at;
}

std::size_t model_state_bytes(const ModelDef& model) {
  std::size_t end = (static_cast<std::size_t>(model.num_param_elements) * sizeof(float) + 7) / 8 * 8;
  for_each_state_offset(model, [&](int, const TensorRef& t, std::size_t offset) {
    end = (offset + tensor_bytes(t) + 7) / 8 * 8;
  });
  return end;
}

void gather_model_state(const ModelDef& model, const std::byte* arena, std::byte* copy) {
  std::memcpy(copy, param_region(model, arena), static_cast<std::size_t>(model.num_param_elements) * sizeof(float));
  for_each_state_offset(model, [&](int, const TensorRef& t, std::size_t offset) {
    std::memcpy(copy + offset, arena + t.offset, tensor_bytes(t));
  });
}

void scatter_model_state(const ModelDef& model, const std::byte* copy, std::byte* arena) {
  std::memcpy(param_region(model, arena), copy, static_cast<std::size_t>(model.num_param_elements) * sizeof(float));
  for_each_state_offset(model, [&](int, const TensorRef& t, std::size_t offset) {
    std::memcpy(arena + t.offset, copy + offset, tensor_bytes(t));
  });
}

void update_average(const ModelDef& model, std::byte* average, const std::byte* arena, const AveragingRule& rule,
                    std::int64_t n_averaged) {
  if (rule.parameters_only) {
    float* params = reinterpret_cast<float*>(average);
    if (n_averaged == 0)
      std::memcpy(params, param_region(model, arena), static_cast<std::size_t>(model.num_param_elements) * sizeof(float));
    else
      average_elements(params, param_region(model, arena), model.num_param_elements, rule, n_averaged);
    return;
  }
  if (n_averaged == 0) {  // `if copy_param: p_averaged.detach().copy_(p_model_)`
    gather_model_state(model, arena, average);
    return;
  }
  average_elements(reinterpret_cast<float*>(average), param_region(model, arena), model.num_param_elements, rule,
                   n_averaged);
  for_each_state_offset(model, [&](int, const TensorRef& t, std::size_t offset) {
    std::byte* copy = average + offset;
    if (!rule.use_buffers) {  // "keep the buffers in sync with the source model"
      std::memcpy(copy, arena + t.offset, tensor_bytes(t));
    } else if (t.dtype == DType::i64) {
      average_elements(reinterpret_cast<std::int64_t*>(copy), reinterpret_cast<const std::int64_t*>(arena + t.offset),
                       t.numel(), rule, n_averaged);
    } else {
      average_elements(reinterpret_cast<float*>(copy), reinterpret_cast<const float*>(arena + t.offset), t.numel(),
                       rule, n_averaged);
    }
  });
}

}  // namespace ltrt
