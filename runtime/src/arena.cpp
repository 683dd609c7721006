// The arena: one aligned, zeroed allocation.
#include "ltrt/arena.hpp"

#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "ltrt/error.hpp"

namespace ltrt {

Arena::Arena(std::size_t bytes) : size_(bytes) {
  // aligned_alloc needs a size that is a multiple of the alignment.
  const std::size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  void* p = std::aligned_alloc(kAlignment, rounded == 0 ? kAlignment : rounded);
  if (p == nullptr) throw Error("cannot allocate the arena (" + std::to_string(bytes) + " bytes)");
  std::memset(p, 0, rounded == 0 ? kAlignment : rounded);
  data_ = static_cast<std::byte*>(p);
}

Arena::~Arena() { std::free(data_); }

Arena::Arena(Arena&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

Arena& Arena::operator=(Arena&& other) noexcept {
  if (this != &other) {
    std::free(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

}  // namespace ltrt
