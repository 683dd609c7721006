// CRC-32C (Castagnoli), the checksum of TFRecord files (TensorBoard event
// files), and TensorFlow's "masked" form of it that the records store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ltrt {

// CRC-32C of n bytes, continuing from crc (0 to start): reflected polynomial
// 0x82F63B78, initial value and final xor 0xFFFFFFFF. crc32c("123456789") ==
// 0xE3069283.
std::uint32_t crc32c(const void* data, std::size_t n, std::uint32_t crc = 0);
inline std::uint32_t crc32c(std::string_view bytes) { return crc32c(bytes.data(), bytes.size()); }

// TensorFlow's crc32c::Mask: rotate right by 15 bits, add 0xa282ead8.
inline std::uint32_t mask_crc32c(std::uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
inline std::uint32_t unmask_crc32c(std::uint32_t masked) {
  const std::uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

}  // namespace ltrt
