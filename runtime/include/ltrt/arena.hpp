// The one allocation of a training program: a zeroed, 64-byte aligned block
// whose layout (parameters, gradients, optimizer slots, activations, batch
// buffers) is fixed at generation time by the memory plan in model.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ltrt/model.hpp"

namespace ltrt {

class Arena {
 public:
  static constexpr std::size_t kAlignment = 64;

  explicit Arena(std::size_t bytes);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&& other) noexcept;
  Arena& operator=(Arena&& other) noexcept;

  std::byte* data() { return data_; }
  const std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// Typed views of a ModelDef's regions inside an arena.
inline float* param_region(const ModelDef& m, std::byte* arena) {
  return reinterpret_cast<float*>(arena + m.params_offset);
}
inline const float* param_region(const ModelDef& m, const std::byte* arena) {
  return reinterpret_cast<const float*>(arena + m.params_offset);
}
inline float* grad_region(const ModelDef& m, std::byte* arena) {
  return reinterpret_cast<float*>(arena + m.grads_offset);
}
// Slot k (0 <= k < m.num_slots): same layout as the parameter region.
inline float* slot_region(const ModelDef& m, std::byte* arena, int k) {
  return reinterpret_cast<float*>(arena + m.slots_offset) + static_cast<std::int64_t>(k) * m.num_param_elements;
}
inline const float* slot_region(const ModelDef& m, const std::byte* arena, int k) {
  return reinterpret_cast<const float*>(arena + m.slots_offset) + static_cast<std::int64_t>(k) * m.num_param_elements;
}

}  // namespace ltrt
