// Parameter initialisation from the init generator.
#include "ltrt/init.hpp"

#include <cstdint>

namespace ltrt {

void init_parameters(const ModelDef& model, std::byte* arena, Generator& gen) {
  for (int p = 0; p < model.num_params; ++p) {
    const ParamDef& param = model.params[p];
    float* value = reinterpret_cast<float*>(arena + param.value.offset);
    const std::int64_t n = param.value.numel();
    switch (param.init) {
      case InitKind::zeros:
        for (std::int64_t i = 0; i < n; ++i) value[i] = 0.0f;
        break;
      case InitKind::ones:
        for (std::int64_t i = 0; i < n; ++i) value[i] = 1.0f;
        break;
      case InitKind::uniform: {
        // torch's uniform_(from, to): from + (to - from) * U[0, 1).
        const double from = -param.init_bound;
        const double width = 2.0 * param.init_bound;
        for (std::int64_t i = 0; i < n; ++i) value[i] = static_cast<float>(from + width * gen.uniform());
        break;
      }
      case InitKind::normal:
        // torch's normal_(0, std); Embedding's default is N(0, 1).
        for (std::int64_t i = 0; i < n; ++i) value[i] = static_cast<float>(param.init_bound * gen.normal());
        break;
      case InitKind::constant:  // torch's fill_(value): no draws
        for (std::int64_t i = 0; i < n; ++i) value[i] = static_cast<float>(param.init_bound);
        break;
      case InitKind::copy: {  // a clone of an earlier parameter: no draws
        const float* from = reinterpret_cast<const float*>(arena + model.params[param.copy_of].value.offset);
        for (std::int64_t i = 0; i < n; ++i) value[i] = from[i];
        break;
      }
    }
    if (param.zero_row >= 0 && param.value.rank > 0) {
      const std::int64_t row = n / param.value.shape[0];  // elements per row
      for (std::int64_t i = 0; i < row; ++i) value[param.zero_row * row + i] = 0.0f;
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
