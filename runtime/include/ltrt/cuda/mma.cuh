// A warp's tensor-core matrix multiply-accumulate in TF32, with its fragment layout stated once:
// the PTX instruction mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 (sm_80 and newer),
// D = A * B + C for a 16 x 8 (M x K) A, an 8 x 8 (K x N) B and a 16 x 8 (M x N) float32 C and D,
// each spread over the 32 lanes of a warp; TF32 rounding (cvt.rna.tf32.f32); and the 3xTF32 split
// that keeps about float32's accuracy on tensor cores.
//
// The fragments (NVIDIA's PTX ISA, section 9.7.14.5.7 "Matrix Fragments for mma.m16n8k8": the
// .tf32 multiplicands and the .f32 accumulators; docs.nvidia.com/cuda/parallel-thread-execution).
// With group = lane / 4 and thread_in_group = lane % 4:
//   A (16 x 8, row-major operand): a[0..3], one TF32 in each .b32 register;
//     row = group for a0 and a2, group + 8 for a1 and a3;
//     col = thread_in_group for a0 and a1, thread_in_group + 4 for a2 and a3.
//   B (8 x 8, column-major operand): b[0..1];
//     row (k) = thread_in_group for b0, thread_in_group + 4 for b1; col (n) = group.
//   C and D (16 x 8 float32): c[0..3];
//     row = group for c0 and c1, group + 8 for c2 and c3; col = 2 * thread_in_group + (i & 1).
// So the 4 lanes of a group hold the same two rows of C and D: a kernel that rescales rows of an
// accumulator (FlashAttention-2's running softmax) reduces over those 4 lanes only.
// mma_a_position, mma_b_position and mma_c_position say the same for code: kernels and tests
// place elements with them, and tests/cuda/mma_check.cu checks them against a GPU.
//
// Where each function runs:
//  - nvcc for sm_80 and newer: the PTX instructions, inline.
//  - nvcc for an older GPU (CUDA 13's sm_75): the runtime's headers are compiled for every
//    architecture a program lists, so this must compile there. to_tf32 rounds in integer
//    arithmetic (the same bits as cvt.rna); mma_tf32_16x8x8 traps (__trap: the launch fails with
//    an error) because Turing has no TF32 tensor cores and a kernel that reaches one there was
//    dispatched wrongly: a loud failure, never a slow or wrong result. A kernel that also serves
//    sm_75 chooses its path at compile time with LTRT_HAS_MMA_TF32.
//  - the CUDA emulator (tests/cuda/emulator, the host compiler, no PTX): the same functions over
//    the emulator's warp exchange, exactly on the layouts above. Products of TF32 operands are
//    exact in float32; each lane sums, for each of its D elements, c and the 8 products as
//    ltgen_emu::tensor_core_sum does: rounding each addition to nearest (the default) or the
//    truncating sum measured on tensor cores (LTGEN_CUDA_EMULATOR_MMA=truncate). The hardware's
//    order and intermediate rounding are not documented, so a result can differ from it in the
//    last bits when there is cancellation or rounding; results of exactly representable sums are
//    the same.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

#if !defined(__CUDACC__) && !defined(LTGEN_CUDA_EMULATOR)
#error "ltrt/cuda/mma.cuh is CUDA device code: compile it with nvcc (or the CUDA emulator's headers)"
#endif

// 1 where mma_tf32_16x8x8 runs on tensor cores (device code for sm_80 and newer) or in the
// emulator; 0 in device code for older GPUs (where it traps) and in nvcc's host pass.
#if (defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800) || (!defined(__CUDA_ARCH__) && defined(LTGEN_CUDA_EMULATOR))
#define LTRT_HAS_MMA_TF32 1
#else
#define LTRT_HAS_MMA_TF32 0
#endif

namespace ltrt::cuda {

constexpr int kMmaM = 16;  // rows of A, C and D
constexpr int kMmaN = 8;   // columns of B, C and D
constexpr int kMmaK = 8;   // columns of A, rows of B
constexpr int kMmaLanes = 32;
constexpr int kMmaAPerLane = kMmaM * kMmaK / kMmaLanes;  // 4
constexpr int kMmaBPerLane = kMmaK * kMmaN / kMmaLanes;  // 2
constexpr int kMmaCPerLane = kMmaM * kMmaN / kMmaLanes;  // 4

// TF32 keeps float32's sign and exponent and the top 10 of its 23 mantissa bits.
constexpr std::uint32_t kTf32DroppedBits = 0x1fffu;  // the 13 mantissa bits TF32 drops

struct MmaPosition {
  int row, col;
};

// Where element i of lane `lane`'s fragment sits in its matrix (the layouts above).
__host__ __device__ constexpr MmaPosition mma_a_position(int lane, int i) {
  return {lane / 4 + 8 * (i & 1), lane % 4 + 4 * (i >> 1)};
}
__host__ __device__ constexpr MmaPosition mma_b_position(int lane, int i) {  // row = k, col = n
  return {lane % 4 + 4 * i, lane / 4};
}
__host__ __device__ constexpr MmaPosition mma_c_position(int lane, int i) {  // C and D
  return {lane / 4 + 8 * (i >> 1), 2 * (lane % 4) + (i & 1)};
}

__host__ __device__ inline float bits_to_float(std::uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
__host__ __device__ inline std::uint32_t float_to_bits(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

// cvt.rna.tf32.f32 in integer arithmetic: to nearest, ties away from zero, on the magnitude (so
// subnormals round like normals, a carry runs into the exponent, and what rounds past the largest
// TF32 becomes infinity: cvt.rna without .satfinite). Infinities stay; a NaN stays a NaN (its top
// payload bits kept, made quiet, the dropped bits cleared: the GPU's NaN bits may differ).
__host__ __device__ constexpr std::uint32_t round_to_tf32_bits(std::uint32_t bits) {
  if ((bits & 0x7fffffffu) > 0x7f800000u) return (bits | 0x00400000u) & ~kTf32DroppedBits;
  return (bits + 0x1000u) & ~kTf32DroppedBits;
}

// x rounded to TF32, as the .b32 operand an mma takes (a float32 whose low 13 bits are zero).
__device__ inline std::uint32_t to_tf32(float x) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  std::uint32_t tf32;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(tf32) : "f"(x));
  return tf32;
#else
  return round_to_tf32_bits(float_to_bits(x));
#endif
}

// x = big + small with both TF32 (the rest, below small's 11 bits, is lost: about 2^-22 of x).
struct Tf32Split {
  std::uint32_t big, small;
};
__device__ inline Tf32Split split_tf32(float x) {
  const std::uint32_t big = to_tf32(x);
  return {big, to_tf32(x - bits_to_float(big))};  // x - big is exact in float32
}

#if defined(LTGEN_CUDA_EMULATOR) && !defined(__CUDA_ARCH__)
namespace detail {
// Which lane's element i holds A's or B's element (row, col): the inverse of mma_a_position and
// mma_b_position, so that a lane reads only the elements its D needs (16 of A, 16 of B).
struct MmaSlot {
  int lane, i;
};
constexpr MmaSlot mma_a_slot(int row, int col) { return {row % 8 * 4 + col % 4, row / 8 + 2 * (col / 4)}; }
constexpr MmaSlot mma_b_slot(int row, int col) { return {col * 4 + row % 4, row / 4}; }
constexpr bool mma_slots_invert_positions() {
  for (int lane = 0; lane < kMmaLanes; ++lane) {
    for (int i = 0; i < kMmaAPerLane; ++i) {
      const MmaPosition p = mma_a_position(lane, i);
      const MmaSlot s = mma_a_slot(p.row, p.col);
      if (s.lane != lane || s.i != i) return false;
    }
    for (int i = 0; i < kMmaBPerLane; ++i) {
      const MmaPosition p = mma_b_position(lane, i);
      const MmaSlot s = mma_b_slot(p.row, p.col);
      if (s.lane != lane || s.i != i) return false;
    }
  }
  return true;
}
static_assert(mma_slots_invert_positions(), "mma_a_slot and mma_b_slot invert the fragment layouts");

// The emulated mma: every lane publishes its fragments, and each computes its own D elements from
// the A rows and B columns they need, taken from the lanes that hold them, reading only the TF32
// bits of A and B (as the tensor cores do).
inline void emulated_mma_tf32_16x8x8(float (&d)[4], const std::uint32_t (&a)[4], const std::uint32_t (&b)[2],
                                     const float (&c)[4]) {
  struct Fragments {
    std::uint32_t a[kMmaAPerLane], b[kMmaBPerLane];
  };
  static_assert(sizeof(Fragments) <= ltgen_emu::kWarpGatherBytes, "a lane's fragments fit its slot");
  Fragments mine{};
  for (int i = 0; i < kMmaAPerLane; ++i) mine.a[i] = a[i];
  for (int i = 0; i < kMmaBPerLane; ++i) mine.b[i] = b[i];
  float mine_c[kMmaCPerLane];
  for (int i = 0; i < kMmaCPerLane; ++i) mine_c[i] = c[i];  // before d is written: d may be c
  const std::byte* slots = ltgen_emu::warp_publish(&mine, sizeof mine);  // every lane's
  auto element = [&](MmaSlot s, std::size_t first) {  // a (first 0) or b's element, its TF32 bits
    std::uint32_t bits;
    std::memcpy(&bits, slots + s.lane * ltgen_emu::kWarpGatherBytes + (first + s.i) * sizeof bits, sizeof bits);
    return bits_to_float(bits & ~kTf32DroppedBits);
  };
  const int lane = ltgen_emu::lane_id();
  // The A rows and B columns of this lane's D elements, each gathered once (the four elements
  // share two rows and two columns): a_of[i] and b_of[i] name the element whose row and column
  // element i reads.
  float rows[kMmaCPerLane][kMmaK], cols[kMmaCPerLane][kMmaK];
  int a_of[kMmaCPerLane], b_of[kMmaCPerLane];
  for (int i = 0; i < kMmaCPerLane; ++i) {
    const MmaPosition p = mma_c_position(lane, i);
    a_of[i] = i, b_of[i] = i;
    for (int j = i - 1; j >= 0; --j) {
      if (mma_c_position(lane, j).row == p.row) a_of[i] = j;
      if (mma_c_position(lane, j).col == p.col) b_of[i] = j;
    }
    for (int k = 0; k < kMmaK && a_of[i] == i; ++k) rows[i][k] = element(mma_a_slot(p.row, k), 0);
    for (int k = 0; k < kMmaK && b_of[i] == i; ++k) cols[i][k] = element(mma_b_slot(k, p.col), kMmaAPerLane);
  }
  float products[kMmaCPerLane][kMmaK];
  for (int i = 0; i < kMmaCPerLane; ++i)
    for (int k = 0; k < kMmaK; ++k) products[i][k] = rows[a_of[i]][k] * cols[b_of[i]][k];  // each exact
  for (int i = 0; i < kMmaCPerLane; ++i)
    d[i] = ltgen_emu::tensor_core_sum(mine_c[i], products[i], kMmaK);  // nearest, or truncate (see there)
}
}  // namespace detail
#endif

// d = a * b + c for the warp's 16 x 8 x 8 tile, fragments in the layouts above; every lane of the
// warp must call it together (it is warp-synchronous: .sync.aligned). a and b hold TF32 bits
// (to_tf32); other bits of them are ignored. d may be c (accumulate in place).
__device__ inline void mma_tf32_16x8x8(float (&d)[4], const std::uint32_t (&a)[4], const std::uint32_t (&b)[2],
                                       const float (&c)[4]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%10, %11, %12, %13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]),
        "f"(c[3]));
#elif defined(__CUDA_ARCH__)
  (void)d, (void)a, (void)b, (void)c;
  __trap();  // no TF32 tensor cores before sm_80: see the note at the top
#elif defined(LTGEN_CUDA_EMULATOR)
  detail::emulated_mma_tf32_16x8x8(d, a, b, c);
#else
  (void)d, (void)a, (void)b, (void)c;  // nvcc's host pass: device code is not compiled for the host
#endif
}

// x as an mma operand, for an x that TF32 holds exactly: a bfloat16 (8 significant bits) or
// float16 (11) value kept in a float32, as mixed precision's rounded tensors are. Its bits go as
// they are, without cvt. The emulator checks that the 13 bits TF32 drops are zero, so an operand
// that was not rounded where a kernel assumes it was fails there instead of losing bits.
__device__ inline std::uint32_t exact_tf32(float x) {
  const std::uint32_t bits = float_to_bits(x);
#if defined(LTGEN_CUDA_EMULATOR) && !defined(__CUDA_ARCH__)
  if ((bits & kTf32DroppedBits) != 0 && (bits & 0x7fffffffu) <= 0x7f800000u)
    ltgen_emu::fatal("exact_tf32: an operand that TF32 does not hold exactly (not a bfloat16 or float16 value)");
#endif
  return bits;
}

// acc += a * b for operands from exact_tf32: one TF32 mma, whose products are exact in float32.
// As in 3xTF32, the mma sums from zero and its result is added to acc in float32, so that a
// truncating accumulation (see below) does not build up along a chain.
__device__ inline void mma_exact_16x8x8(float (&acc)[4], const std::uint32_t (&a)[4], const std::uint32_t (&b)[2]) {
  float step[4] = {};
  mma_tf32_16x8x8(step, a, b, step);
  for (int i = 0; i < 4; ++i) acc[i] += step[i];
}

// A fragment's N operands, each split into its two TF32 parts for 3xTF32 (split_tf32): kernels
// that reuse an operand split it once.
template <int N>
struct Tf32Parts {
  std::uint32_t big[N], small[N];
  __device__ void set(int i, float x) {
    const Tf32Split s = split_tf32(x);
    big[i] = s.big;
    small[i] = s.small;
  }
};

// acc += a * b in 3xTF32: a * b ~ big_a * big_b + big_a * small_b + small_a * big_b (small_a *
// small_b, about 2^-22 of the product, is dropped), the small terms first so they are not lost
// against the big one. About float32's accuracy, where one TF32 product (to_tf32 of each operand)
// is off by about 2^-11 relative. The three mmas sum from zero and the step is added to acc in
// float32: tensor cores were measured to truncate their sums (V100, T4, A100; Fasi et al., PeerJ
// CS 2021), a bias that would grow along a chain of mmas into one accumulator.
__device__ inline void mma_3xtf32_16x8x8(float (&acc)[4], const Tf32Parts<4>& a, const Tf32Parts<2>& b) {
  float step[4] = {};
  mma_tf32_16x8x8(step, a.small, b.big, step);
  mma_tf32_16x8x8(step, a.big, b.small, step);
  mma_tf32_16x8x8(step, a.big, b.big, step);
  for (int i = 0; i < 4; ++i) acc[i] += step[i];
}

// d = a * b + c from float32 fragments, in 3xTF32 as above.
__device__ inline void mma_3xtf32_16x8x8(float (&d)[4], const float (&a)[4], const float (&b)[2],
                                         const float (&c)[4]) {
  Tf32Parts<4> a_parts;
  Tf32Parts<2> b_parts;
  for (int i = 0; i < 4; ++i) a_parts.set(i, a[i]);
  for (int i = 0; i < 2; ++i) b_parts.set(i, b[i]);
  for (int i = 0; i < 4; ++i) d[i] = c[i];  // before the product: d may be c
  mma_3xtf32_16x8x8(d, a_parts, b_parts);
}

}  // namespace ltrt::cuda
