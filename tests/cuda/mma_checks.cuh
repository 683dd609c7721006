// The checks of ltrt/cuda/mma.cuh, written once for two runners: the CUDA emulator's test
// (emulator/emulator_test.cu, through a copy of this file that rewrite_launches.py has rewritten)
// and the hardware check (mma_check.cu, nvcc, a GPU of sm_80 or newer). Each check runs one warp
// and returns a MmaCheck: its name, whether it passed, and what it saw (on a failure, the first
// lane and fragment element that differ, with their row and column).
//
// The operands are placed in fragments on the host with mma_a_position, mma_b_position and
// mma_c_position, and D is read back lane by lane the same way, so on a GPU these checks are the
// proof that those layouts are the hardware's.
#pragma once

#include <ltrt/cuda/mma.cuh>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace mma_checks {

using ltrt::cuda::kMmaAPerLane;
using ltrt::cuda::kMmaBPerLane;
using ltrt::cuda::kMmaCPerLane;
using ltrt::cuda::kMmaK;
using ltrt::cuda::kMmaLanes;
using ltrt::cuda::kMmaM;
using ltrt::cuda::kMmaN;
using ltrt::cuda::MmaPosition;

struct MmaCheck {
  std::string name;
  bool passed;
  std::string detail;
};

// ---- kernels: one warp each; fragment arrays are lane-major (lane * per_lane + element) ----

__global__ void mma_tf32_kernel(float* d, const std::uint32_t* a, const std::uint32_t* b, const float* c) {
  const int lane = threadIdx.x;
  std::uint32_t af[4], bf[2];
  float cf[4], df[4];
  for (int i = 0; i < 4; ++i) af[i] = a[lane * 4 + i];
  for (int i = 0; i < 2; ++i) bf[i] = b[lane * 2 + i];
  for (int i = 0; i < 4; ++i) cf[i] = c[lane * 4 + i];
  ltrt::cuda::mma_tf32_16x8x8(df, af, bf, cf);
  for (int i = 0; i < 4; ++i) d[lane * 4 + i] = df[i];
}

// From float32 operands: one TF32 product (each operand through to_tf32), or 3xTF32.
__global__ void mma_float_kernel(float* d, const float* a, const float* b, const float* c, bool three_tf32) {
  const int lane = threadIdx.x;
  float af[4], bf[2], cf[4], df[4];
  for (int i = 0; i < 4; ++i) af[i] = a[lane * 4 + i];
  for (int i = 0; i < 2; ++i) bf[i] = b[lane * 2 + i];
  for (int i = 0; i < 4; ++i) cf[i] = c[lane * 4 + i];
  if (three_tf32) {
    ltrt::cuda::mma_3xtf32_16x8x8(df, af, bf, cf);
  } else {
    std::uint32_t at[4], bt[2];
    for (int i = 0; i < 4; ++i) at[i] = ltrt::cuda::to_tf32(af[i]);
    for (int i = 0; i < 2; ++i) bt[i] = ltrt::cuda::to_tf32(bf[i]);
    ltrt::cuda::mma_tf32_16x8x8(df, at, bt, cf);
  }
  for (int i = 0; i < 4; ++i) d[lane * 4 + i] = df[i];
}

__global__ void to_tf32_kernel(std::uint32_t* out, const float* in, int n) {
  for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = ltrt::cuda::to_tf32(in[i]);
}

// ---- device memory and launches ----

inline void cuda_ok(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(const std::vector<T>& host) : size_(host.size()) {
    cuda_ok(cudaMalloc(&data_, size_ * sizeof(T)), "cudaMalloc");
    cuda_ok(cudaMemcpy(data_, host.data(), size_ * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy to the GPU");
  }
  ~DeviceArray() { cudaFree(data_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  T* get() const { return data_; }
  std::vector<T> download() const {
    std::vector<T> host(size_);
    cuda_ok(cudaMemcpy(host.data(), data_, size_ * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy from the GPU");
    return host;
  }

 private:
  T* data_ = nullptr;
  std::size_t size_;
};

// ---- matrices and fragments on the host ----

// A (16 x 8), B (8 x 8, k by n) and C (16 x 8), row-major.
struct Tile {
  std::vector<float> a = std::vector<float>(kMmaM * kMmaK);
  std::vector<float> b = std::vector<float>(kMmaK * kMmaN);
  std::vector<float> c = std::vector<float>(kMmaM * kMmaN);
};

template <class Position>
std::vector<float> to_fragments(const std::vector<float>& matrix, int cols, int per_lane, Position position) {
  std::vector<float> fragments(kMmaLanes * per_lane);
  for (int lane = 0; lane < kMmaLanes; ++lane)
    for (int i = 0; i < per_lane; ++i) {
      const MmaPosition p = position(lane, i);
      fragments[lane * per_lane + i] = matrix[p.row * cols + p.col];
    }
  return fragments;
}
inline std::vector<float> a_fragments(const Tile& t) { return to_fragments(t.a, kMmaK, kMmaAPerLane, ltrt::cuda::mma_a_position); }
inline std::vector<float> b_fragments(const Tile& t) { return to_fragments(t.b, kMmaN, kMmaBPerLane, ltrt::cuda::mma_b_position); }
inline std::vector<float> c_fragments(const Tile& t) { return to_fragments(t.c, kMmaN, kMmaCPerLane, ltrt::cuda::mma_c_position); }

inline std::vector<std::uint32_t> as_bits(const std::vector<float>& v) {
  std::vector<std::uint32_t> bits(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) bits[i] = ltrt::cuda::float_to_bits(v[i]);
  return bits;
}

// The mma of a tile whose A and B are given as bits (TF32, or with bits the mma must ignore);
// returns D's fragments, lane-major.
inline std::vector<float> run_mma_tf32(const std::vector<std::uint32_t>& a, const std::vector<std::uint32_t>& b,
                                       const std::vector<float>& c) {
  DeviceArray<float> d(std::vector<float>(kMmaLanes * kMmaCPerLane, NAN));
  DeviceArray<std::uint32_t> da(a), db(b);
  DeviceArray<float> dc(c);
  mma_tf32_kernel<<<1, kMmaLanes>>>(d.get(), da.get(), db.get(), dc.get());
  cuda_ok(cudaGetLastError(), "launching mma_tf32_kernel");
  cuda_ok(cudaDeviceSynchronize(), "running mma_tf32_kernel");
  return d.download();
}

inline std::vector<float> run_mma_float(const Tile& t, bool three_tf32) {
  DeviceArray<float> d(std::vector<float>(kMmaLanes * kMmaCPerLane, NAN));
  DeviceArray<float> da(a_fragments(t)), db(b_fragments(t)), dc(c_fragments(t));
  mma_float_kernel<<<1, kMmaLanes>>>(d.get(), da.get(), db.get(), dc.get(), three_tf32);
  cuda_ok(cudaGetLastError(), "launching mma_float_kernel");
  cuda_ok(cudaDeviceSynchronize(), "running mma_float_kernel");
  return d.download();
}

inline std::vector<std::uint32_t> run_to_tf32(const std::vector<float>& in) {
  DeviceArray<std::uint32_t> out(std::vector<std::uint32_t>(in.size(), 0));
  DeviceArray<float> din(in);
  to_tf32_kernel<<<1, 256>>>(out.get(), din.get(), static_cast<int>(in.size()));
  cuda_ok(cudaGetLastError(), "launching to_tf32_kernel");
  cuda_ok(cudaDeviceSynchronize(), "running to_tf32_kernel");
  return out.download();
}

// ---- references ----

// D = A * B + C in float64, and the sum of the terms' magnitudes (|C| + sum |A B|), the scale
// against which float32 rounding of the sum is measured.
struct Reference {
  std::vector<double> d = std::vector<double>(kMmaM * kMmaN);
  std::vector<double> scale = std::vector<double>(kMmaM * kMmaN);
};
inline Reference reference_product(const Tile& t) {
  Reference r;
  for (int row = 0; row < kMmaM; ++row)
    for (int col = 0; col < kMmaN; ++col) {
      double sum = t.c[row * kMmaN + col], scale = std::fabs(sum);
      for (int k = 0; k < kMmaK; ++k) {
        const double term = static_cast<double>(t.a[row * kMmaK + k]) * t.b[k * kMmaN + col];
        sum += term;
        scale += std::fabs(term);
      }
      r.d[row * kMmaN + col] = sum;
      r.scale[row * kMmaN + col] = scale;
    }
  return r;
}

// x rounded to TF32, to nearest with ties away from zero, in float64 arithmetic (not mma.cuh's bit
// arithmetic): a multiple of TF32's step at x's exponent (2^-136 below float32's normal range).
inline double reference_tf32(float x) {
  if (!std::isfinite(x) || x == 0.0f) return x;
  int exponent = 0;
  std::frexp(static_cast<double>(x), &exponent);  // |x| = m 2^exponent, m in [0.5, 1)
  const double step = std::ldexp(1.0, std::max(exponent - 11, -136));
  const double q = static_cast<double>(x) / step;
  const double rounded = std::copysign(std::trunc(std::fabs(q) + 0.5) * step, q);
  if (std::fabs(rounded) >= std::ldexp(1.0, 128)) return std::copysign(INFINITY, q);  // past TF32's largest
  return rounded;
}

// The largest |D - reference| / scale over the tile, and the first lane and element (in lane
// order) past `tolerance`, described.
struct Comparison {
  double worst = 0.0;
  std::string first_mismatch;
};
inline std::string describe_element(int lane, int i, float got, double want) {
  const MmaPosition p = ltrt::cuda::mma_c_position(lane, i);
  char text[200];
  std::snprintf(text, sizeof text, "lane %d d[%d] (row %d, col %d): got %.9g, want %.9g", lane, i, p.row, p.col,
                static_cast<double>(got), want);
  return text;
}
inline Comparison compare(const std::vector<float>& d, const Reference& r, double tolerance) {
  Comparison out;
  for (int lane = 0; lane < kMmaLanes; ++lane)
    for (int i = 0; i < kMmaCPerLane; ++i) {
      const MmaPosition p = ltrt::cuda::mma_c_position(lane, i);
      const int at = p.row * kMmaN + p.col;
      const float got = d[lane * kMmaCPerLane + i];
      const double error = std::isnan(got) ? INFINITY : std::fabs(got - r.d[at]) / (r.scale[at] > 0 ? r.scale[at] : 1.0);
      if (error > out.worst) out.worst = error;
      if (error > tolerance && out.first_mismatch.empty()) out.first_mismatch = describe_element(lane, i, got, r.d[at]);
    }
  return out;
}

// ---- inputs ----

// Small integers: every product and sum is exact in float32, whatever the order of the additions,
// so D must equal the reference exactly; a misplaced element changes it.
inline Tile integer_tile(unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> small(-16, 16), accumulator(-1000, 1000);
  Tile t;
  for (float& x : t.a) x = static_cast<float>(small(rng));
  for (float& x : t.b) x = static_cast<float>(small(rng));
  for (float& x : t.c) x = static_cast<float>(accumulator(rng));
  return t;
}

// TF32 values (11 significant bits) spread over 2^-8 .. 2^8, either sign.
inline Tile tf32_tile(unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> mantissa(1024, 2047), exponent(-18, -2), sign(0, 1);
  auto draw = [&] { return static_cast<float>((sign(rng) ? -1 : 1) * std::ldexp(mantissa(rng), exponent(rng))); };
  Tile t;
  for (float& x : t.a) x = draw();
  for (float& x : t.b) x = draw();
  for (float& x : t.c) x = draw();
  return t;
}

// Float32 values with all 24 significant bits, normally distributed.
inline Tile float32_tile(unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Tile t;
  for (float& x : t.a) x = normal(rng);
  for (float& x : t.b) x = normal(rng);
  for (float& x : t.c) x = normal(rng);
  return t;
}

// ---- the checks ----

inline std::string format(const char* pattern, double x, double y = 0.0) {
  char text[200];
  std::snprintf(text, sizeof text, pattern, x, y);
  return text;
}

// Exact integer products: every lane's D fragment is where mma_c_position says, from A and B
// placed where mma_a_position and mma_b_position say.
inline MmaCheck check_layout_exact() {
  for (unsigned seed = 1; seed <= 4; ++seed) {
    const Tile t = integer_tile(seed);
    const Comparison c = compare(run_mma_tf32(as_bits(a_fragments(t)), as_bits(b_fragments(t)), c_fragments(t)),
                                 reference_product(t), 0.0);
    if (!c.first_mismatch.empty())
      return {"layout_exact", false, "integer tile " + std::to_string(seed) + ": " + c.first_mismatch};
  }
  return {"layout_exact", true, "4 integer tiles, every lane's D equal to the float64 product"};
}

// TF32 operands of mixed magnitudes and signs: within float32 rounding of 8 additions, with room
// for the hardware's own order and rounding (truncating each addition would cost up to 8 * 2^-23 of
// the terms' magnitudes).
inline MmaCheck check_tf32_operands() {
  constexpr double kTolerance = 32.0 / (1 << 24);
  double worst = 0.0;
  for (unsigned seed = 1; seed <= 4; ++seed) {
    const Tile t = tf32_tile(seed);
    const Comparison c = compare(run_mma_tf32(as_bits(a_fragments(t)), as_bits(b_fragments(t)), c_fragments(t)),
                                 reference_product(t), kTolerance);
    if (!c.first_mismatch.empty())
      return {"tf32_operands", false, "tf32 tile " + std::to_string(seed) + ": " + c.first_mismatch};
    worst = std::max(worst, c.worst);
  }
  return {"tf32_operands", true, format("4 tiles, largest error %.3g of the terms' magnitudes (allowed %.3g)", worst, kTolerance)};
}

// The mma reads only the TF32 bits of A and B: the integer tiles again with the 13 bits below
// TF32's mantissa all set in every non-zero operand (rounding them would add one TF32 step, 2^-10
// of the operand, and using them almost as much), and D is still exactly the integer product.
inline MmaCheck check_ignores_low_bits() {
  const Tile t = integer_tile(5);
  std::vector<std::uint32_t> a = as_bits(a_fragments(t)), b = as_bits(b_fragments(t));
  for (std::uint32_t& x : a)
    if (x != 0) x |= ltrt::cuda::kTf32DroppedBits;
  for (std::uint32_t& x : b)
    if (x != 0) x |= ltrt::cuda::kTf32DroppedBits;
  const Comparison c = compare(run_mma_tf32(a, b, c_fragments(t)), reference_product(t), 0.0);
  if (!c.first_mismatch.empty()) return {"ignores_low_bits", false, c.first_mismatch};
  return {"ignores_low_bits", true, "operands with their 13 low bits set give the product of their TF32 bits"};
}

// to_tf32 (cvt.rna.tf32.f32): chosen cases with their bits, then random floats against
// reference_tf32.
inline MmaCheck check_to_tf32() {
  struct Case {
    std::uint32_t in, want;
    const char* what;
  };
  const Case cases[] = {
      {0x3f800000u, 0x3f800000u, "1 stays"},
      {0x3f801000u, 0x3f802000u, "1 + half a step: a tie, away from zero (to even would give 1)"},
      {0xbf801000u, 0xbf802000u, "-(1 + half a step): a tie, away from zero"},
      {0x3f800fffu, 0x3f800000u, "just below a tie: down"},
      {0x3f801001u, 0x3f802000u, "just above a tie: up"},
      {0x3fffffffu, 0x40000000u, "2 - 2^-23: the carry reaches the exponent"},
      {0x7f7fffffu, 0x7f800000u, "the largest float32: past TF32's largest, infinity"},
      {0x7f800000u, 0x7f800000u, "infinity stays"},
      {0xff800000u, 0xff800000u, "-infinity stays"},
      {0x00000000u, 0x00000000u, "0 stays"},
      {0x80000000u, 0x80000000u, "-0 stays"},
      {0x00001000u, 0x00002000u, "a subnormal tie: away from zero, not flushed"},
      {0x00000fffu, 0x00000000u, "a subnormal below the smallest TF32 step's half: 0"},
      {0x807ff000u, 0x80800000u, "the largest negative subnormal tie: the smallest normal"},
  };
  std::vector<float> in;
  for (const Case& c : cases) in.push_back(ltrt::cuda::bits_to_float(c.in));
  const std::uint32_t nan_bits = 0x7fc00001u;
  in.push_back(ltrt::cuda::bits_to_float(nan_bits));
  // A NaN whose payload is only in the dropped bits: its result is reported, not checked (mma.cuh
  // keeps it a NaN; an add-and-mask rounding on the GPU would make it infinity; PTX does not say).
  const std::uint32_t low_payload_nan = 0x7f800001u;
  in.push_back(ltrt::cuda::bits_to_float(low_payload_nan));
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::uint32_t> any_bits;
  const std::size_t first_random = in.size();
  while (in.size() < first_random + 4096) {
    const float x = ltrt::cuda::bits_to_float(any_bits(rng));
    if (!std::isnan(x)) in.push_back(x);
  }
  const std::vector<std::uint32_t> out = run_to_tf32(in);
  char text[300];
  for (std::size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
    if (out[i] != cases[i].want) {
      std::snprintf(text, sizeof text, "to_tf32(0x%08x) = 0x%08x, want 0x%08x (%s)", cases[i].in, out[i], cases[i].want,
                    cases[i].what);
      return {"to_tf32", false, text};
    }
  if (!std::isnan(ltrt::cuda::bits_to_float(out[first_random - 2]))) {
    std::snprintf(text, sizeof text, "to_tf32(NaN 0x%08x) = 0x%08x, not a NaN", nan_bits, out[first_random - 2]);
    return {"to_tf32", false, text};
  }
  for (std::size_t i = first_random; i < in.size(); ++i) {
    const double want = reference_tf32(in[i]);
    if (static_cast<double>(ltrt::cuda::bits_to_float(out[i])) != want || (out[i] & ltrt::cuda::kTf32DroppedBits) != 0) {
      std::snprintf(text, sizeof text, "to_tf32(%.9g, 0x%08x) = 0x%08x (%.9g), want %.9g", static_cast<double>(in[i]),
                    ltrt::cuda::float_to_bits(in[i]), out[i], static_cast<double>(ltrt::cuda::bits_to_float(out[i])), want);
      return {"to_tf32", false, text};
    }
  }
  std::snprintf(text, sizeof text,
                "14 chosen cases, a NaN, and 4096 random floats against the float64 rounding (NaN 0x%08x gives 0x%08x)",
                low_payload_nan, out[first_random - 1]);
  return {"to_tf32", true, text};
}

// Float32 operands: 3xTF32 within about float32's accuracy of the float64 product, where one TF32
// product is off by about 2^-11 of the terms: the reason for the split.
constexpr double kThreeTf32Tolerance = 2e-6;  // of the terms' magnitudes
constexpr double kOneTf32AtLeast = 1e-4;      // one TF32 product is at least this far off somewhere
inline MmaCheck check_3xtf32() {
  double worst_three = 0.0, worst_one = 0.0;
  for (unsigned seed = 1; seed <= 4; ++seed) {
    const Tile t = float32_tile(seed);
    const Reference r = reference_product(t);
    const Comparison three = compare(run_mma_float(t, true), r, kThreeTf32Tolerance);
    if (!three.first_mismatch.empty())
      return {"3xtf32", false, "float32 tile " + std::to_string(seed) + ", 3xTF32: " + three.first_mismatch};
    worst_three = std::max(worst_three, three.worst);
    worst_one = std::max(worst_one, compare(run_mma_float(t, false), r, INFINITY).worst);
  }
  const std::string numbers = format("largest error of the terms' magnitudes: 3xTF32 %.3g, 1xTF32 %.3g", worst_three, worst_one);
  if (worst_one < kOneTf32AtLeast)
    return {"3xtf32", false, numbers + ": 1xTF32 is too close to float32 for its operands to have been rounded"};
  return {"3xtf32", true, numbers};
}

inline std::vector<MmaCheck> run_all() {
  return {check_layout_exact(), check_tf32_operands(), check_ignores_low_bits(), check_to_tf32(), check_3xtf32()};
}

}  // namespace mma_checks
