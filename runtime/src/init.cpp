// Parameter initialisation: the model's init steps on torch's generator.
#include "ltrt/init.hpp"

#include <cstdint>
#include <vector>

namespace ltrt {

void init_parameters(const ModelDef& model, std::byte* arena, TorchGenerator& gen) {
  const auto values = [&](int p) { return reinterpret_cast<float*>(arena + model.params[p].value.offset); };
  std::vector<float> dropped;
  for (int k = 0; k < model.num_init_steps; ++k) {
    const InitStep& step = model.init_steps[k];
    if (step.kind == InitKind::discard) {
      dropped.resize(static_cast<std::size_t>(step.draws));
      gen.uniform(dropped.data(), step.draws, -1.0, 1.0);  // any bounds: one 32-bit draw an element
      continue;
    }
    float* value = values(step.param);
    const std::int64_t n = model.params[step.param].value.numel();
    switch (step.kind) {
      case InitKind::zeros:
      case InitKind::ones:
      case InitKind::constant: {  // fill_: no draws
        const float fill = step.kind == InitKind::zeros ? 0.0f
                           : step.kind == InitKind::ones ? 1.0f
                                                         : static_cast<float>(step.value);
        for (std::int64_t i = 0; i < n; ++i) value[i] = fill;
        break;
      }
      case InitKind::uniform:
        gen.uniform(value, n, -step.value, step.value);
        break;
      case InitKind::normal:
        gen.normal(value, n, 0.0, step.value);
        break;
      case InitKind::copy: {  // a clone of an earlier parameter: no draws
        const float* from = values(step.copy_of);
        for (std::int64_t i = 0; i < n; ++i) value[i] = from[i];
        break;
      }
      case InitKind::discard:
        break;
    }
    const TensorRef& t = model.params[step.param].value;
    if (step.zero_row >= 0 && t.rank > 0) {
      const std::int64_t row = n / t.shape[0];  // elements per row
      for (std::int64_t i = 0; i < row; ++i) value[step.zero_row * row + i] = 0.0f;
    }
  }
  init_state(model, arena);
}

void init_state(const ModelDef& model, std::byte* arena) {
  for (int k = 0; k < model.num_state; ++k) {
    const StateDef& st = model.state[k];
    const std::int64_t n = st.value.numel();
    const bool one = st.init == InitKind::ones;
    if (st.value.dtype == DType::i64) {
      auto* v = reinterpret_cast<std::int64_t*>(arena + st.value.offset);
      for (std::int64_t i = 0; i < n; ++i) v[i] = one ? 1 : 0;
    } else {
      auto* v = reinterpret_cast<float*>(arena + st.value.offset);
      for (std::int64_t i = 0; i < n; ++i) v[i] = one ? 1.0f : 0.0f;
    }
  }
}

}  // namespace ltrt
