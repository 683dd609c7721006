// ltrt::cuda::gemm_16bit (runtime/cuda/sgemm.cu, run by the CUDA emulator): mixed precision's
// GEMMs on 16-bit copies of their operands give what sgemm gives on the float32 operands, bit for
// bit, for every transpose, beta, epilogue and a bias cuBLASLt cannot fuse (the emulator sums
// both in the same order, and the products of 16-bit values are exact); a Linear's backward reuses
// dout's copy; an operand given as 16-bit bits is read in place; float16's subnormals, largest value, infinities and NaN survive the copy; too
// small an allotment of copies is an error; and a value the format does not hold stops the run.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "ltrt/bfloat16.hpp"
#include "ltrt/cuda/context.cuh"
#include "ltrt/error.hpp"
#include "ltrt/float16.hpp"

namespace {

using ltrt::cuda::Epilogue;
using ltrt::cuda::Format16;

template <class T>
struct DeviceBuffer {
  T* ptr = nullptr;
  explicit DeviceBuffer(std::size_t count) { EXPECT_EQ(cudaMalloc(&ptr, count * sizeof(T) + 256), cudaSuccess); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(ptr); }
};

void upload(float* device, const std::vector<float>& host) {
  ASSERT_EQ(cudaMemcpy(device, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
}

std::vector<float> download(const float* device, std::size_t count) {
  std::vector<float> host(count);
  EXPECT_EQ(cudaMemcpy(host.data(), device, count * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  return host;
}

float round_to(Format16 format, float x) { return format == Format16::bf16 ? ltrt::round_bf16(x) : ltrt::round_fp16(x); }

// count values of the format, about normally distributed with `scale`.
std::vector<float> values(Format16 format, std::size_t count, float scale, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> out(count);
  for (float& x : out) x = round_to(format, normal(rng));
  return out;
}

// Equal bit for bit (NaNs: both NaN).
void expect_same(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << what << " element " << i;
      continue;
    }
    EXPECT_EQ(got[i], want[i]) << what << " element " << i;
  }
}

struct Device {
  cudaStream_t stream = nullptr;
  cublasLtHandle_t blas = nullptr;
  DeviceBuffer<std::byte> workspace{1 << 20};
  DeviceBuffer<std::byte> operands16;
  std::size_t operands16_bytes;

  explicit Device(std::size_t operand_bytes) : operands16(operand_bytes), operands16_bytes(operand_bytes) {
    EXPECT_EQ(cudaStreamCreate(&stream), cudaSuccess);
    EXPECT_EQ(cublasLtCreate(&blas), CUBLAS_STATUS_SUCCESS);
  }
  ~Device() {
    cublasLtDestroy(blas);
    cudaStreamDestroy(stream);
  }
  // sgemm's context as a program with float32_matmul_precision "highest" has it.
  ltrt::cuda::Context context() const {
    ltrt::cuda::Context ctx{stream, blas, workspace.ptr, 1 << 20, nullptr};
    ctx.operands16 = operands16.ptr;
    ctx.operands16_bytes = operands16_bytes;
    return ctx;
  }
};

// C = op(A) op(B) (+ beta C, epilogue) through gemm_16bit and through sgemm, from the same C.
void expect_gemm_matches_sgemm(Format16 format, bool trans_a, bool trans_b, int m, int n, int k, float beta,
                               Epilogue epilogue, bool misaligned_bias) {
  SCOPED_TRACE(testing::Message() << "format " << (format == Format16::bf16 ? "bf16" : "fp16") << ", trans "
                                  << trans_a << trans_b << ", beta " << beta << ", epilogue "
                                  << static_cast<int>(epilogue) << (misaligned_bias ? ", misaligned bias" : ""));
  const std::vector<float> a = values(format, static_cast<std::size_t>(m) * k, 1.0f, 1);
  const std::vector<float> b = values(format, static_cast<std::size_t>(k) * n, 0.5f, 2);
  const std::vector<float> c0 = values(format, static_cast<std::size_t>(m) * n, 2.0f, 3);
  const std::vector<float> bias = values(format, static_cast<std::size_t>(n) + 1, 1.0f, 4);
  const Device device(ltrt::cuda::operands16_bytes(m, n, k));
  const ltrt::cuda::Context ctx = device.context();
  DeviceBuffer<float> da(a.size()), db(b.size()), dc(c0.size()), dbias(bias.size());
  upload(da.ptr, a);
  upload(db.ptr, b);
  upload(dbias.ptr, bias);
  const float* bias_ptr = misaligned_bias ? dbias.ptr + 1 : dbias.ptr;  // 4-byte aligned: a kernel adds it
  upload(dc.ptr, c0);
  ltrt::cuda::sgemm(ctx, trans_a, trans_b, m, n, k, da.ptr, db.ptr, beta, dc.ptr, epilogue, bias_ptr);
  ASSERT_EQ(cudaStreamSynchronize(device.stream), cudaSuccess);
  const std::vector<float> want = download(dc.ptr, c0.size());
  upload(dc.ptr, c0);
  ltrt::cuda::gemm_16bit(ctx, format, trans_a, trans_b, m, n, k, da.ptr, db.ptr, beta, dc.ptr, epilogue, bias_ptr);
  ASSERT_EQ(cudaStreamSynchronize(device.stream), cudaSuccess);
  expect_same(download(dc.ptr, c0.size()), want, "C");
}

TEST(Gemm16bit, MatchesSgemmForEveryTransposeBetaAndEpilogue) {
  for (const Format16 format : {Format16::bf16, Format16::fp16})
    for (const bool trans_a : {false, true})
      for (const bool trans_b : {false, true}) {
        expect_gemm_matches_sgemm(format, trans_a, trans_b, 7, 5, 33, 0.0f, Epilogue::none, false);
        expect_gemm_matches_sgemm(format, trans_a, trans_b, 7, 5, 33, 1.0f, Epilogue::none, false);
      }
  for (const Format16 format : {Format16::bf16, Format16::fp16})
    for (const Epilogue epilogue : {Epilogue::bias, Epilogue::relu, Epilogue::relu_bias})
      for (const bool misaligned : {false, true})
        expect_gemm_matches_sgemm(format, false, true, 9, 6, 20, 0.0f, epilogue, misaligned);
}

// A Linear's backward: dW = dout^T inp, then dinp = dout W on dout's copy from the first call.
TEST(Gemm16bit, SecondCallReusesTheFirstCallsCopyOfA) {
  const int rows = 12, in = 10, out = 6;
  const Format16 format = Format16::bf16;
  const std::vector<float> dout = values(format, rows * out, 1.0f, 5);
  const std::vector<float> inp = values(format, rows * in, 1.0f, 6);
  const std::vector<float> weight = values(format, out * in, 0.3f, 7);
  const Device device(std::max(ltrt::cuda::operands16_bytes(out, in, rows), ltrt::cuda::operands16_bytes(rows, in, out)));
  const ltrt::cuda::Context ctx = device.context();
  DeviceBuffer<float> d_dout(dout.size()), d_inp(inp.size()), d_weight(weight.size()), d_dw(out * in),
      d_dinp(rows * in);
  upload(d_dout.ptr, dout);
  upload(d_inp.ptr, inp);
  upload(d_weight.ptr, weight);
  ltrt::cuda::sgemm(ctx, true, false, out, in, rows, d_dout.ptr, d_inp.ptr, 0.0f, d_dw.ptr);
  ltrt::cuda::sgemm(ctx, false, false, rows, in, out, d_dout.ptr, d_weight.ptr, 0.0f, d_dinp.ptr);
  ASSERT_EQ(cudaStreamSynchronize(device.stream), cudaSuccess);
  const std::vector<float> want_dw = download(d_dw.ptr, out * in), want_dinp = download(d_dinp.ptr, rows * in);
  ltrt::cuda::gemm_16bit(ctx, format, true, false, out, in, rows, d_dout.ptr, d_inp.ptr, 0.0f, d_dw.ptr);
  // dout's float32 storage changes after the first call is enqueued: the second call must not read it.
  ASSERT_EQ(cudaMemsetAsync(d_dout.ptr, 0xff, dout.size() * sizeof(float), device.stream), cudaSuccess);
  ltrt::cuda::gemm_16bit(ctx, format, false, false, rows, in, out, d_dout.ptr, d_weight.ptr, 0.0f, d_dinp.ptr,
                         Epilogue::none, nullptr, /*a_copied=*/true);
  ASSERT_EQ(cudaStreamSynchronize(device.stream), cudaSuccess);
  expect_same(download(d_dw.ptr, out * in), want_dw, "dW");
  expect_same(download(d_dinp.ptr, rows * in), want_dinp, "dinp");
}

// Operands a cast wrote as 16-bit bits are read where they are, and only float32 ones take room
// for copies: A's bits and B's float32 values in an allotment that holds B's copy alone.
TEST(Gemm16bit, StoredBitsAreReadInPlace) {
  const int m = 5, n = 3, k = 17;
  for (const Format16 format : {Format16::bf16, Format16::fp16}) {
    const std::vector<float> a = values(format, m * k, 1.0f, 8), b = values(format, k * n, 1.0f, 9);
    std::vector<std::uint16_t> a_bits(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) a_bits[i] = ltrt::cuda::bits16(a[i], format);
    const Device device(ltrt::cuda::operands16_bytes(m, n, k, /*copy_a=*/false, /*copy_b=*/true));
    ASSERT_EQ(device.operands16_bytes, static_cast<std::size_t>(k * n * 2));
    const ltrt::cuda::Context ctx = device.context();
    DeviceBuffer<float> da(a.size()), db(b.size()), dc(m * n);
    DeviceBuffer<std::uint16_t> da_bits(a.size());
    upload(da.ptr, a);
    upload(db.ptr, b);
    ASSERT_EQ(cudaMemcpy(da_bits.ptr, a_bits.data(), a_bits.size() * 2, cudaMemcpyHostToDevice), cudaSuccess);
    ltrt::cuda::sgemm(ctx, false, false, m, n, k, da.ptr, db.ptr, 0.0f, dc.ptr);
    ASSERT_EQ(cudaStreamSynchronize(device.stream), cudaSuccess);
    const std::vector<float> want = download(dc.ptr, m * n);
    const std::uint16_t* bits = da_bits.ptr;
    ltrt::cuda::gemm_16bit(ctx, format, false, false, m, n, k, bits, db.ptr, 0.0f, dc.ptr);
    ASSERT_EQ(cudaStreamSynchronize(device.stream), cudaSuccess);
    expect_same(download(dc.ptr, m * n), want, "C");
    // Read back, the bits are the values.
    for (std::size_t i = 0; i < a.size(); ++i) {
      const float back = format == Format16::bf16 ? ltrt::cuda::bf16_value(a_bits[i]) : ltrt::cuda::fp16_value(a_bits[i]);
      ASSERT_EQ(back, a[i]) << i;
    }
  }
}

// float16's edges go through the copy as they are: its largest value, its smallest subnormal and
// others, signed zeros, and (a 16-mixed step that overflowed) infinities and NaN.
TEST(Gemm16bit, Float16EdgesSurviveTheCopy) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const float tiny = 5.9604644775390625e-8f;  // 2^-24
  const std::vector<float> a = {65504.0f, -tiny, 1023.0f * tiny, -0.0f, 6.103515625e-05f, -inf, nan, 3.0f * tiny};
  const std::vector<float> b = {1.0f, -0.5f};  // [1, 2]: each element of C is one product
  for (float x : a) ASSERT_TRUE(std::isnan(x) || ltrt::round_fp16(x) == x) << x;
  const int m = static_cast<int>(a.size()), n = 2, k = 1;
  const Device device(ltrt::cuda::operands16_bytes(m, n, k));
  const ltrt::cuda::Context ctx = device.context();
  DeviceBuffer<float> da(a.size()), db(b.size()), dc(m * n);
  upload(da.ptr, a);
  upload(db.ptr, b);
  ltrt::cuda::gemm_16bit(ctx, Format16::fp16, false, false, m, n, k, da.ptr, db.ptr, 0.0f, dc.ptr);
  ASSERT_EQ(cudaStreamSynchronize(device.stream), cudaSuccess);
  const std::vector<float> got = download(dc.ptr, m * n);
  std::vector<float> want(m * n);
  for (int i = 0; i < m; ++i) {
    want[i * n] = a[i] * b[0];
    want[i * n + 1] = a[i] * b[1];
  }
  expect_same(got, want, "C");
  EXPECT_EQ(ltrt::cuda::fp16_bits(-0.0f), 0x8000u);
  EXPECT_EQ(ltrt::cuda::fp16_bits(65504.0f), 0x7bffu);
  EXPECT_EQ(ltrt::cuda::fp16_bits(tiny), 0x0001u);
  EXPECT_EQ(ltrt::cuda::fp16_bits(-inf), 0xfc00u);
  EXPECT_EQ(ltrt::cuda::bf16_bits(-1.5f), 0xbfc0u);
  for (const float x : a) {  // and back
    const float back = ltrt::cuda::fp16_value(ltrt::cuda::fp16_bits(x));
    EXPECT_TRUE(std::isnan(x) ? std::isnan(back) : back == x && std::signbit(back) == std::signbit(x)) << x;
  }
}

TEST(Gemm16bit, TooSmallAnAllotmentIsAnError) {
  const int m = 4, n = 4, k = 4;
  const std::vector<float> a(m * k, 1.0f);
  const Device device(ltrt::cuda::operands16_bytes(m, n, k) - 2);
  DeviceBuffer<float> da(a.size()), dc(m * n);
  upload(da.ptr, a);
  try {
    ltrt::cuda::gemm_16bit(device.context(), Format16::bf16, false, false, m, n, k, da.ptr, da.ptr, 0.0f, dc.ptr);
    FAIL() << "no error";
  } catch (const ltrt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("operands16_bytes"), std::string::npos) << e.what();
  }
}

// A 1x1 gemm_16bit of x by itself, waited for.
void square(Format16 format, float x) {
  const std::vector<float> a = {x};
  const Device device(ltrt::cuda::operands16_bytes(1, 1, 1));
  DeviceBuffer<float> da(1), dc(1);
  upload(da.ptr, a);
  ltrt::cuda::gemm_16bit(device.context(), format, false, false, 1, 1, 1, da.ptr, da.ptr, 0.0f, dc.ptr);
  cudaStreamSynchronize(device.stream);
}

// An operand that was not rounded to the format (a rounding left out upstream) stops the run in
// the emulator instead of being rounded in the copy.
TEST(Gemm16bitDeathTest, OperandTheFormatDoesNotHoldIsFatal) {
  const float unrounded = 1.0f + 1.0f / 4096.0f;  // 2^-12: below either format's last bit at 1
  EXPECT_DEATH(square(Format16::bf16, unrounded), "bf16_bits: a value that bfloat16 does not hold exactly");
  EXPECT_DEATH(square(Format16::fp16, unrounded), "fp16_bits: a value that float16 does not hold exactly");
  EXPECT_DEATH(square(Format16::fp16, 65536.0f), "does not hold exactly");  // past float16's largest
  EXPECT_DEATH(square(Format16::fp16, 1.5f * 5.9604644775390625e-8f), "does not hold exactly");  // 1.5 subnormal steps
}

}  // namespace
