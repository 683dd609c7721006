// ltrt::round_fp16 against torch's float32 -> float16 -> float32 (values printed by torch 2.15) and,
// over a sweep of every exponent, GCC's own _Float16 conversion (round to nearest even).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "ltrt/float16.hpp"

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

TEST(RoundFp16, MatchesTorch) {
  const std::uint32_t cases[][2] = {
      {0x3f800000, 0x3f800000},  // 1: already float16
      {0x3f801000, 0x3f800000},  // a tie between 1 and 1 + 2^-10: to the even one, down
      {0x3f803000, 0x3f804000},  // a tie between odd and even: up
      {0x3f800fff, 0x3f800000},  // just below a tie: down
      {0x477fe000, 0x477fe000},  // 65504, float16's largest, stays
      {0x477fefff, 0x477fe000},  // just below 65520: 65504
      {0x477ff000, 0x7f800000},  // 65520: infinity
      {0x7f7fffff, 0x7f800000},  // float32's largest: infinity
      {0x38800000, 0x38800000},  // 2^-14, the smallest normal
      {0x387fffff, 0x38800000},  // just below it rounds up to it
      {0x33800000, 0x33800000},  // 2^-24, the smallest subnormal
      {0x33000000, 0x00000000},  // 2^-25, a tie between 0 and 2^-24: 0
      {0x33000001, 0x33800000},  // just above it: 2^-24
      {0x33c00000, 0x34000000},  // 1.5 * 2^-24, a tie: to 2 * 2^-24
      {0x34000000, 0x34000000},  // 2^-23
      {0x80000000, 0x80000000},  // -0
      {0x3dcccccd, 0x3dccc000},  // 0.1
      {0xc2f6e979, 0xc2f6e000},  // -123.456
      {0x2f000000, 0x00000000},  // far below the subnormals: 0
  };
  for (const auto& c : cases)
    EXPECT_EQ(bits_of(ltrt::round_fp16(from_bits(c[0]))), c[1]) << std::hex << c[0];
}

TEST(RoundFp16, KeepsInfinitiesAndNaN) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(ltrt::round_fp16(inf), inf);
  EXPECT_EQ(ltrt::round_fp16(-inf), -inf);
  EXPECT_EQ(ltrt::round_fp16(-70000.0f), -inf);
  EXPECT_TRUE(std::isnan(ltrt::round_fp16(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(std::isnan(ltrt::round_fp16(from_bits(0x7f800001))));  // a signalling NaN stays a NaN
}

#if defined(__FLT16_MAX__)
// GCC's _Float16 (x86-64 since GCC 12) converts with IEEE round to nearest even: every sign,
// every exponent, and fractions stepped by a prime (ties and their neighbours included).
TEST(RoundFp16, MatchesTheCompilersFloat16) {
  int checked = 0;
  for (std::uint32_t sign : {0u, 0x80000000u})
    for (std::uint32_t exponent = 0; exponent < 255; ++exponent)
      for (std::uint32_t fraction = 0; fraction < (1u << 23); fraction += 4093) {
        for (std::uint32_t near : {0u, 0xFFFu, 0x1000u, 0x1001u}) {  // a float16 step is 0x2000 in the normal range
          const std::uint32_t b = sign | exponent << 23 | ((fraction + near) & 0x7FFFFFu);
          const float x = from_bits(b);
          const float want = static_cast<float>(static_cast<_Float16>(x));
          ASSERT_EQ(bits_of(ltrt::round_fp16(x)), bits_of(want)) << std::hex << b;
          ++checked;
        }
      }
  EXPECT_GT(checked, 1000000);
}
#else
TEST(RoundFp16, MatchesTheCompilersFloat16) { GTEST_SKIP() << "this compiler has no _Float16 to compare with"; }
#endif

}  // namespace
