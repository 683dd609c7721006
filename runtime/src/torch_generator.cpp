// torch's uniform_ and normal_ on float32 tensors (see torch_generator.hpp). The runtime builds
// with -ffp-contract=off, so every operation below rounds as written; std::fma marks where
// torch's vector code (GCC contracting its AVX2 build) fuses a multiply and an add.
#include "ltrt/torch_generator.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include "ltrt/error.hpp"
#include "kernel_clones.hpp"

namespace ltrt {
namespace {

float from_bits(std::uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}
std::uint32_t to_bits(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

// 24 random bits as a float in [0, 1): at::uniform_real_distribution<float>.
float unit_float(std::uint32_t random) { return static_cast<float>(random & 0xFFFFFFu) * (1.0f / 16777216.0f); }

// Natural log for x > 0: Cephes' logf as avx_mathfun.h's log256_ps computes it (the exponent
// split off, a degree-8 polynomial in the mantissa's offset from 1, then e * ln 2 in two parts).
float cephes_log(float x) {
  x = std::max(x, from_bits(0x00800000u));  // the smallest normal float
  const auto exponent = static_cast<std::int32_t>(to_bits(x) >> 23) - 0x7f;
  x = from_bits((to_bits(x) & ~0x7f800000u) | to_bits(0.5f));  // the mantissa, in [0.5, 1)
  float e = static_cast<float>(exponent) + 1.0f;
  const bool below = x < 0.707106781186547524f;  // sqrt(1/2): then 2x - 1 instead of x - 1
  const float again = below ? x : 0.0f;
  x = x - 1.0f;
  e = e - (below ? 1.0f : 0.0f);
  x = x + again;
  const float z = x * x;
  float y = 7.0376836292e-2f;
  for (const float c : {-1.1514610310e-1f, 1.1676998740e-1f, -1.2420140846e-1f, 1.4249322787e-1f,
                        -1.6668057665e-1f, 2.0000714765e-1f, -2.4999993993e-1f, 3.3333331174e-1f})
    y = std::fma(y, x, c);
  y = y * x;
  y = std::fma(y, z, e * -2.12194440e-4f);
  y = std::fma(-z, 0.5f, y);
  x = x + y;
  return std::fma(e, 0.693359375f, x);
}

// Sine and cosine of x >= 0: Cephes' sinf/cosf as avx_mathfun.h's sincos256_ps computes them
// (x reduced by multiples of pi/4 in three parts, then one of two polynomials per octant).
void cephes_sincos(float x, float& sine, float& cosine) {
  std::uint32_t sine_sign = to_bits(x) & 0x80000000u;
  x = from_bits(to_bits(x) & 0x7fffffffu);
  float y = x * 1.27323954473516f;  // 4 / pi
  std::int32_t octant = static_cast<std::int32_t>(y);
  octant = (octant + 1) & ~1;
  y = static_cast<float>(octant);
  sine_sign ^= static_cast<std::uint32_t>(octant & 4) << 29;
  const bool cosine_polynomial = (octant & 2) == 0;  // for the cosine; the sine takes the other one
  const std::uint32_t cosine_sign = static_cast<std::uint32_t>(~(octant - 2) & 4) << 29;
  x = std::fma(y, -0.78515625f, x);
  x = std::fma(y, -2.4187564849853515625e-4f, x);
  x = std::fma(y, -3.77489497744594108e-8f, x);
  const float z = x * x;
  float c = 2.443315711809948e-5f;
  c = std::fma(c, z, -1.388731625493765e-3f);
  c = std::fma(c, z, 4.166664568298827e-2f);
  c = c * z;
  c = std::fma(c, z, -(z * 0.5f));
  c = c + 1.0f;
  float s = -1.9515295891e-4f;
  s = std::fma(s, z, 8.3321608736e-3f);
  s = std::fma(s, z, -1.6666654611e-1f);
  s = s * z;
  s = std::fma(x, s, x);
  // The vector code picks by masks and adds the zero it masked out; so do we (it can turn -0 to +0).
  const float sine_part_of_s = cosine_polynomial ? s : 0.0f, sine_part_of_c = cosine_polynomial ? 0.0f : c;
  const float sine_value = sine_part_of_c + sine_part_of_s;
  const float cosine_value = (c - sine_part_of_c) + (s - sine_part_of_s);
  sine = from_bits(to_bits(sine_value) ^ sine_sign);
  cosine = from_bits(to_bits(cosine_value) ^ cosine_sign);
}

// Box-Muller on 16 uniforms in place: data[j] and data[j + 8] from the pair (data[j], data[j + 8]).
void normal_16(float* data, float mean, float std) {
  const float two_pi = static_cast<float>(2.0f * 3.14159265358979323846);
  for (int j = 0; j < 8; ++j) {
    const float u1 = 1.0f - data[j];  // (0, 1] for the log
    const float radius = std::sqrt(-2.0f * cephes_log(u1));
    float sine, cosine;
    cephes_sincos(two_pi * data[j + 8], sine, cosine);
    data[j] = std::fma(radius * cosine, std, mean);
    data[j + 8] = std::fma(radius * sine, std, mean);
  }
}

}  // namespace

TorchGenerator::TorchGenerator(std::uint64_t seed) : engine_(static_cast<std::uint32_t>(seed)) {}


namespace torch_generator_kernels {

// keep[j] = bernoulli's comparison for the pair words[2j] (high) and words[2j + 1]: its 53 low bits
// x as x / 2^53 < p, which for integers x is x < ceil(p * 2^53) (`threshold`, exact in double).
LTRT_KERNEL_CLONES void bernoulli_keeps(const std::uint32_t* __restrict__ words, std::uint8_t* __restrict__ keep,
                                        std::int64_t n, std::uint64_t threshold) {
  for (std::int64_t j = 0; j < n; ++j) {
    const std::uint64_t x = (static_cast<std::uint64_t>(words[2 * j] & 0x1fffffu) << 32) | words[2 * j + 1];
    keep[j] = x < threshold ? 1 : 0;
  }
}

}  // namespace torch_generator_kernels

void TorchGenerator::bernoulli(double p, std::int64_t n, std::uint8_t* keep) {
  std::uint64_t threshold = 0;  // p <= 0 (or NaN) keeps nothing
  if (p >= 1.0) {
    threshold = 1ull << 53;  // everything
  } else if (p > 0.0) {
    const double scaled = p * 0x1.0p53;
    threshold = static_cast<std::uint64_t>(std::ceil(scaled));
  }
  constexpr std::int64_t kChunk = 512;  // elements drawn at a time (two words each)
  std::uint32_t words[2 * kChunk];
  for (std::int64_t done = 0; done < n; done += kChunk) {
    const std::int64_t count = std::min(kChunk, n - done);
    engine_.fill(words, 2 * count);
    torch_generator_kernels::bernoulli_keeps(words, keep + done, count, threshold);
  }
}

float TorchGenerator::uniform_value(std::uint32_t random, float lo, float hi) {
  const float value = std::fma(unit_float(random), hi - lo, lo);
  return value == hi ? lo : value;  // torch's clamp for a cast that rounded up to the bound
}

void TorchGenerator::uniform(float* data, std::int64_t n, double from, double to) {
  const auto lo = static_cast<float>(from), hi = static_cast<float>(to);
  for (std::int64_t i = 0; i < n; ++i) data[i] = uniform_value(random(), lo, hi);
}

void TorchGenerator::normal(float* data, std::int64_t n, double mean, double std) {
  if (n >= 16) {
    const auto m = static_cast<float>(mean), s = static_cast<float>(std);
    for (std::int64_t i = 0; i < n; ++i) data[i] = unit_float(random());
    for (std::int64_t i = 0; i + 16 <= n; i += 16) normal_16(data + i, m, s);
    if (n % 16 != 0) {  // the last 16 again, from fresh uniforms
      float* last = data + n - 16;
      for (int i = 0; i < 16; ++i) last[i] = unit_float(random());
      normal_16(last, m, s);
    }
    return;
  }
  for (std::int64_t i = 0; i < n; ++i) {  // at::normal_distribution<double>
    double value;
    if (next_double_normal_) {
      value = *next_double_normal_;
      next_double_normal_.reset();
    } else {
      const auto unit = [&] { return static_cast<double>(random64() & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0); };
      const double u1 = unit(), u2 = unit();
      const double radius = std::sqrt(-2.0 * std::log1p(-u2));
      const double theta = 2.0 * 3.14159265358979323846 * u1;
      next_double_normal_ = radius * std::sin(theta);
      value = radius * std::cos(theta);
    }
    data[i] = static_cast<float>(std::fma(value, std, mean));
  }
}

void TorchGenerator::randint(std::int64_t* data, std::int64_t n, std::int64_t high) {
  const auto range = static_cast<std::uint64_t>(high);
  for (std::int64_t i = 0; i < n; ++i)
    data[i] = static_cast<std::int64_t>((range >= (1ull << 32) ? random64() : random()) % range);
}

// "mt19937 <the engine's 625 words> normal <none, or the waiting float64's bits in hex>".
std::string TorchGenerator::state() const {
  std::ostringstream out;
  out << "mt19937 " << engine_ << " normal ";
  if (next_double_normal_) {
    std::uint64_t bits;
    std::memcpy(&bits, &*next_double_normal_, sizeof bits);
    out << std::hex << bits;
  } else {
    out << "none";
  }
  return out.str();
}

void TorchGenerator::set_state(const std::string& text) {
  std::istringstream in(text);
  std::string tag, normal_tag, normal;
  Mt19937 engine;
  in >> tag >> engine >> normal_tag >> normal;
  std::string rest;
  if (!in || tag != "mt19937" || normal_tag != "normal" || (in >> rest))
    throw Error("torch generator state '" + text.substr(0, 40) + "...' is malformed");
  std::optional<double> next;
  if (normal != "none") {
    std::size_t used = 0;
    std::uint64_t bits = 0;
    try {
      bits = std::stoull(normal, &used, 16);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != normal.size()) throw Error("torch generator state: '" + normal + "' is not a float64's bits");
    double value;
    std::memcpy(&value, &bits, sizeof value);
    next = value;
  }
  engine_ = engine;
  next_double_normal_ = next;
}

}  // namespace ltrt
