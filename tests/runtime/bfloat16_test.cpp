// ltrt::round_bf16 against torch's float32 -> bfloat16 -> float32 (values printed by torch 2.15).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "ltrt/bfloat16.hpp"

namespace {

float from_bits(std::uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

std::uint32_t bits_of(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

TEST(RoundBf16, MatchesTorch) {
  const std::uint32_t cases[][2] = {
      {0x3f800000, 0x3f800000},  // 1: already bfloat16
      {0x3f808000, 0x3f800000},  // a tie between 1 and 1 + 2^-7: to the even one, down
      {0x3f818000, 0x3f820000},  // a tie between odd and even: up
      {0x3f817fff, 0x3f810000},  // just below a tie: down
      {0x3f808001, 0x3f810000},  // just above a tie: up
      {0xbb23d70a, 0xbb240000},  // negative, up in magnitude
      {0x7f7fffff, 0x7f800000},  // float32's largest rounds to infinity
      {0x7f7f0000, 0x7f7f0000},  // bfloat16's largest stays
      {0x000116c2, 0x00010000},  // a subnormal keeps its top bits
      {0x80000000, 0x80000000},  // -0
      {0x3dcccccd, 0x3dcd0000},  // 0.1
      {0x477fe000, 0x47800000},  // 65504 carries into the exponent: 65536
      {0x3eaaaaab, 0x3eab0000},  // 1/3
  };
  for (const auto& c : cases)
    EXPECT_EQ(bits_of(ltrt::round_bf16(from_bits(c[0]))), c[1]) << std::hex << c[0];
}

TEST(RoundBf16, KeepsInfinitiesAndNaN) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(ltrt::round_bf16(inf), inf);
  EXPECT_EQ(ltrt::round_bf16(-inf), -inf);
  EXPECT_TRUE(std::isnan(ltrt::round_bf16(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(std::isnan(ltrt::round_bf16(from_bits(0x7f800001))));  // a signalling NaN stays a NaN, not inf
}

TEST(RoundBf16, IsIdempotentAndMonotone) {
  float prev = -std::numeric_limits<float>::infinity();
  for (std::uint32_t b = 0x3f000000; b < 0x40800000; b += 0x1235) {  // 0.5 to 4, steps across many ulps
    const float r = ltrt::round_bf16(from_bits(b));
    EXPECT_EQ(ltrt::round_bf16(r), r);
    EXPECT_EQ(bits_of(r) & 0xFFFFu, 0u);
    EXPECT_LE(std::fabs(r - from_bits(b)), std::ldexp(std::fabs(from_bits(b)), -8));  // within half a bf16 ulp
    EXPECT_GE(r, prev);
    prev = r;
  }
}

}  // namespace
