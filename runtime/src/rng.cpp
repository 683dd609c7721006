// xoshiro256** with splitmix64 seeding, Box-Muller normals, text state.
#include "ltrt/rng.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <utility>

#include "ltrt/error.hpp"

namespace ltrt {
namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// 64 x 64 -> 128-bit product, portably.
void mul128(std::uint64_t a, std::uint64_t b, std::uint64_t& high, std::uint64_t& low) {
  const std::uint64_t a_lo = a & 0xFFFFFFFFu, a_hi = a >> 32, b_lo = b & 0xFFFFFFFFu, b_hi = b >> 32;
  const std::uint64_t lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo, lo_hi = a_lo * b_hi, hi_hi = a_hi * b_hi;
  const std::uint64_t cross = (lo_lo >> 32) + (hi_lo & 0xFFFFFFFFu) + lo_hi;
  high = hi_hi + (hi_lo >> 32) + (cross >> 32);
  low = (cross << 32) | (lo_lo & 0xFFFFFFFFu);
}

constexpr const char* kStatePrefix = "xoshiro256**";

}  // namespace

Generator::Generator(std::uint64_t seed, std::uint64_t stream) {
  // Mix the stream into the seed so streams of one seed are unrelated.
  std::uint64_t sm = seed;
  std::uint64_t mixed = splitmix64(sm) ^ (stream * 0xD1B54A32D192ED03ull);
  for (auto& word : s_) word = splitmix64(mixed);
  if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 1;  // the all-zero state is a fixed point
}

std::uint64_t Generator::next_u64() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

std::uint32_t Generator::next_u32() { return static_cast<std::uint32_t>(next_u64() >> 32); }

std::uint64_t Generator::below(std::uint64_t n) {
  // Lemire: the high word of x * n is uniform in [0, n) once the biased low
  // range (low word < 2^64 mod n) is rejected.
  std::uint64_t high, low;
  mul128(next_u64(), n, high, low);
  if (low < n) {
    const std::uint64_t threshold = (0 - n) % n;
    while (low < threshold) mul128(next_u64(), n, high, low);
  }
  return high;
}

double Generator::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  // u1 in (0, 1] so that log(u1) is finite.
  const double u1 = 1.0 - uniform();
  const double u2 = uniform();
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double theta = 2.0 * 3.14159265358979323846 * u2;
  spare_ = radius * std::sin(theta);
  has_spare_ = true;
  return radius * std::cos(theta);
}

std::string Generator::state() const {
  std::uint64_t spare_bits = 0;
  std::memcpy(&spare_bits, &spare_, sizeof spare_bits);
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s:%016llx:%016llx:%016llx:%016llx:%d:%016llx", kStatePrefix,
                static_cast<unsigned long long>(s_[0]), static_cast<unsigned long long>(s_[1]),
                static_cast<unsigned long long>(s_[2]), static_cast<unsigned long long>(s_[3]),
                has_spare_ ? 1 : 0, static_cast<unsigned long long>(spare_bits));
  return buf;
}

void Generator::set_state(const std::string& text) {
  const std::string prefix = std::string(kStatePrefix) + ":";
  unsigned long long w[4], spare_bits;
  int flag = 0;
  int consumed = 0;
  if (text.compare(0, prefix.size(), prefix) != 0 ||
      std::sscanf(text.c_str() + prefix.size(), "%16llx:%16llx:%16llx:%16llx:%d:%16llx%n", &w[0], &w[1],
                  &w[2], &w[3], &flag, &spare_bits, &consumed) != 6 ||
      prefix.size() + static_cast<std::size_t>(consumed) != text.size() || (flag != 0 && flag != 1) ||
      (w[0] | w[1] | w[2] | w[3]) == 0) {
    throw Error("malformed random generator state '" + text + "'");
  }
  for (int i = 0; i < 4; ++i) s_[i] = w[i];
  has_spare_ = flag == 1;
  std::uint64_t bits = spare_bits;
  std::memcpy(&spare_, &bits, sizeof spare_);
}

Rngs seed_everything(std::int64_t seed) {
  const auto s = static_cast<std::uint64_t>(seed);
  return Rngs{Generator(s, 2), Generator(s, 3)};  // (stream 1 was ltgen's own initialisation)
}

void torch_randperm(std::uint64_t seed, std::vector<std::int64_t>& out) {
  std::mt19937 mt(static_cast<std::uint32_t>(seed));
  const std::int64_t n = static_cast<std::int64_t>(out.size());
  if (n < static_cast<std::int64_t>(std::numeric_limits<std::uint32_t>::max() / 20)) {
    // randperm_cpu for small n: swap position i with i + random() % (n - i).
    for (std::int64_t i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = i;
    for (std::int64_t i = 0; i + 1 < n; ++i) {
      const std::int64_t z = static_cast<std::int64_t>(mt() % static_cast<std::uint64_t>(n - i));
      std::swap(out[static_cast<std::size_t>(i)], out[static_cast<std::size_t>(z + i)]);
    }
    return;
  }
  // Above it, the "inside-out" Fisher-Yates with random64() (two draws, the first the high word).
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint64_t hi = mt();
    const std::uint64_t r = (hi << 32) | mt();
    const auto z = static_cast<std::size_t>(r % static_cast<std::uint64_t>(i + 1));
    out[static_cast<std::size_t>(i)] = out[z];
    out[z] = i;
  }
}

}  // namespace ltrt
