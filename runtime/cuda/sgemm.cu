// Row-major GEMMs on cuBLASLt (column-major): C = op(A) op(B) is computed as
// C^T = op(B)^T op(A)^T, so B is cuBLAS's first operand and A its second. sgemm multiplies
// float32 operands; gemm_16bit multiplies 16-bit copies of operands that hold 16-bit values.
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "ltrt/cuda/context.cuh"
#include "ltrt/error.hpp"

namespace ltrt::cuda {

namespace {

// Owns the descriptors of one call; cuBLASLt keeps nothing of them after cublasLtMatmul returns.
struct MatmulDescriptors {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t first = nullptr, second = nullptr, out = nullptr;
  cublasLtMatmulPreference_t preference = nullptr;
  ~MatmulDescriptors() {
    if (preference) cublasLtMatmulPreferenceDestroy(preference);
    if (out) cublasLtMatrixLayoutDestroy(out);
    if (second) cublasLtMatrixLayoutDestroy(second);
    if (first) cublasLtMatrixLayoutDestroy(first);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

// The alignment a pointer has (a power of two, at most 256 bytes): parameters sit anywhere in
// the flat region, 4-byte aligned, and cuBLASLt must only pick algorithms that allow that.
std::uint32_t alignment(const void* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  std::uint32_t a = 256;
  while (a > 1 && address % a != 0) a /= 2;
  return a;
}

// cuBLASLt's bias epilogue needs a 16-byte-aligned bias (other projects report alignment errors
// below that on A100); a bias elsewhere in the flat parameter region gets a separate kernel.
constexpr std::uint32_t kBiasAlignment = 16;

bool has_bias(Epilogue e) { return e == Epilogue::bias || e == Epilogue::relu_bias; }

// C[m, n] += bias (per column), then ReLU: the epilogue cuBLASLt applies after alpha AB + beta C,
// in the same order, so the result is the fused one's.
__global__ void epilogue_kernel(float* __restrict__ c, const float* __restrict__ bias, bool relu, int n,
                                std::int64_t count) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  float v = c[i];
  if (bias) v += bias[i % n];
  if (relu) v = v > 0.0f ? v : 0.0f;
  c[i] = v;
}

// cuBLASLt's first choice for these descriptors. With tensor cores allowed (TF32, or 16-bit
// operands), tensor-core algorithms are asked for first: the heuristic may rank a float32 FFMA
// kernel first for the backward layouts (operands not K-major, which Hopper's TF32 wgmma cannot
// read directly), and that kernel runs at float32 speed. Every algorithm is asked for when no
// tensor-core one fits.
cublasStatus_t first_algorithm(const Context& ctx, bool tensor_cores, const MatmulDescriptors& d,
                               cublasLtMatmulHeuristicResult_t& result, int& found) {
  auto ask = [&](std::uint64_t implementations) {
    LTRT_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(d.preference, CUBLASLT_MATMUL_PREF_IMPL_MASK,
                                                         &implementations, sizeof implementations));
    found = 0;
    return cublasLtMatmulAlgoGetHeuristic(ctx.blas, d.op, d.first, d.second, d.out, d.out, d.preference, 1, &result,
                                          &found);
  };
  constexpr std::uint64_t kEvery = ~std::uint64_t{0};  // cuBLASLt's default mask
  if (tensor_cores) {
    const cublasStatus_t asked = ask(kEvery & ~CUBLASLT_NUMERICAL_IMPL_FLAGS_FMA);
    if (asked == CUBLAS_STATUS_SUCCESS && found > 0) return asked;
  }
  return ask(kEvery);
}

cublasLtEpilogue_t lt_epilogue(Epilogue e) {
  switch (e) {
    case Epilogue::none: return CUBLASLT_EPILOGUE_DEFAULT;
    case Epilogue::bias: return CUBLASLT_EPILOGUE_BIAS;
    case Epilogue::relu: return CUBLASLT_EPILOGUE_RELU;
    case Epilogue::relu_bias: return CUBLASLT_EPILOGUE_RELU_BIAS;
  }
  return CUBLASLT_EPILOGUE_DEFAULT;
}

// The cuBLASLt call behind sgemm and gemm_16bit: row-major, so C^T = op(B)^T op(A)^T. A and B
// are float32 (`input` CUDA_R_32F: TF32 tensor cores when ctx.tf32) or 16-bit (CUDA_R_16BF,
// CUDA_R_16F: 16-bit tensor cores), C float32, and the sums float32 either way. `before_matmul`
// enqueues what must come first once an algorithm is chosen (gemm_16bit's copies). False
// (nothing enqueued) when cuBLASLt has no algorithm with this epilogue.
template <class BeforeMatmul>
bool matmul(const Context& ctx, cudaDataType_t input, bool trans_a, bool trans_b, int m, int n, int k, const void* a,
            int lda, const void* b, int ldb, float beta, float* c, int ldc, Epilogue epilogue, const float* bias,
            const BeforeMatmul& before_matmul) {
  MatmulDescriptors d;
  // float32 in, float32 accumulation: CUBLAS_COMPUTE_32F never rounds inputs to TF32;
  // _FAST_TF32 may, for tensor cores (torch's allow_tf32). 16-bit inputs: _32F, exact products.
  const bool float32 = input == CUDA_R_32F;
  const cublasComputeType_t compute = float32 && ctx.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  LTRT_CUDA_CHECK(cublasLtMatmulDescCreate(&d.op, compute, CUDA_R_32F));
  const cublasOperation_t op_first = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;  // B, seen column-major
  const cublasOperation_t op_second = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;  // A, seen column-major
  LTRT_CUDA_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &op_first, sizeof op_first));
  LTRT_CUDA_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &op_second, sizeof op_second));
  const cublasLtEpilogue_t e = lt_epilogue(epilogue);
  LTRT_CUDA_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &e, sizeof e));
  if (epilogue == Epilogue::bias || epilogue == Epilogue::relu_bias)
    LTRT_CUDA_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
  // Column-major shapes (rows, cols, leading dimension) of the stored matrices: a row-major
  // matrix with row stride ld is column-major with leading dimension ld.
  // B row-major [k, n] is column-major [n, k]; transposed, row-major [n, k] is column-major [k, n].
  if (trans_b) LTRT_CUDA_CHECK(cublasLtMatrixLayoutCreate(&d.first, input, k, n, ldb));
  else LTRT_CUDA_CHECK(cublasLtMatrixLayoutCreate(&d.first, input, n, k, ldb));
  if (trans_a) LTRT_CUDA_CHECK(cublasLtMatrixLayoutCreate(&d.second, input, m, k, lda));
  else LTRT_CUDA_CHECK(cublasLtMatrixLayoutCreate(&d.second, input, k, m, lda));
  LTRT_CUDA_CHECK(cublasLtMatrixLayoutCreate(&d.out, CUDA_R_32F, n, m, ldc));
  LTRT_CUDA_CHECK(cublasLtMatmulPreferenceCreate(&d.preference));
  const std::uint64_t workspace = ctx.workspace_bytes;
  LTRT_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(d.preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                       &workspace, sizeof workspace));
  const std::pair<cublasLtMatmulPreferenceAttributes_t, std::uint32_t> alignments[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, alignment(b)},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, alignment(a)},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, alignment(c)},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, alignment(c)},
  };
  for (const auto& [attribute, bytes] : alignments)
    LTRT_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(d.preference, attribute, &bytes, sizeof bytes));
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  const cublasStatus_t asked = first_algorithm(ctx, !float32 || ctx.tf32, d, heuristic, found);
  if (epilogue != Epilogue::none && (asked == CUBLAS_STATUS_NOT_SUPPORTED || (asked == CUBLAS_STATUS_SUCCESS && found == 0)))
    return false;  // no algorithm fuses this epilogue: the caller runs it as a kernel
  LTRT_CUDA_CHECK(asked);
  if (found == 0) check(CUBLAS_STATUS_NOT_SUPPORTED, "cublasLtMatmulAlgoGetHeuristic (no algorithm)", __FILE__, __LINE__);
  before_matmul();
  const float alpha = 1.0f;
  LTRT_CUDA_CHECK(cublasLtMatmul(ctx.blas, d.op, &alpha, b, d.first, a, d.second, &beta, c, d.out, c, d.out,
                                 &heuristic.algo, ctx.workspace, ctx.workspace_bytes, ctx.stream));
  return true;
}

void nothing_before() {}

// The epilogue as a kernel of its own, after a GEMM that could not fuse it.
void run_epilogue(const Context& ctx, int m, int n, float* c, Epilogue epilogue, const float* bias) {
  if (epilogue == Epilogue::none) return;
  constexpr int kThreads = 256;
  const std::int64_t count = static_cast<std::int64_t>(m) * n;
  if (count == 0) return;  // a launch of no blocks is an error
  const bool relu = epilogue == Epilogue::relu || epilogue == Epilogue::relu_bias;
  epilogue_kernel<<<blocks_for(count, kThreads), kThreads, 0, ctx.stream>>>(c, has_bias(epilogue) ? bias : nullptr,
                                                                             relu, n, count);
  LTRT_CUDA_CHECK_LAUNCH("epilogue_kernel");
}

// out[i] = the 16-bit bits of in[i], which `format` holds exactly (exact16.cuh).
__global__ void copy_to_16bit_kernel(std::uint16_t* __restrict__ out, const float* __restrict__ in, std::int64_t count,
                                     Format16 format) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride)
    out[i] = bits16(in[i], format);
}

void copy_to_16bit(const Context& ctx, Format16 format, std::uint16_t* out, const float* in, std::int64_t count) {
  constexpr int kThreads = 256;
  constexpr std::int64_t kMaxBlocks = 4096;  // TUNE: a grid-stride loop past this
  if (count == 0) return;
  const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>(blocks_for(count, kThreads), kMaxBlocks));
  copy_to_16bit_kernel<<<blocks, kThreads, 0, ctx.stream>>>(out, in, count, format);
  LTRT_CUDA_CHECK_LAUNCH("copy_to_16bit_kernel");
}

// A dense row-major GEMM (each row's stride its length) with its epilogue: fused into cuBLASLt's
// call where it can be, else a kernel of its own after it.
template <class BeforeMatmul>
void dense_matmul(const Context& ctx, cudaDataType_t input, bool trans_a, bool trans_b, int m, int n, int k,
                  const void* a, const void* b, float beta, float* c, Epilogue epilogue, const float* bias,
                  const BeforeMatmul& before_matmul) {
  const int lda = trans_a ? m : k, ldb = trans_b ? k : n;
  const bool fusable = !has_bias(epilogue) || alignment(bias) >= kBiasAlignment;
  if (fusable && matmul(ctx, input, trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, n, epilogue, bias, before_matmul))
    return;
  matmul(ctx, input, trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, n, Epilogue::none, nullptr, before_matmul);
  run_epilogue(ctx, m, n, c, epilogue, bias);
}

}  // namespace

void sgemm(const Context& ctx, bool trans_a, bool trans_b, int m, int n, int k, const float* a, const float* b,
           float beta, float* c, Epilogue epilogue, const float* bias) {
  dense_matmul(ctx, CUDA_R_32F, trans_a, trans_b, m, n, k, a, b, beta, c, epilogue, bias, nothing_before);
}

void sgemm_ld(const Context& ctx, bool trans_a, bool trans_b, int m, int n, int k, const float* a, int lda,
              const float* b, int ldb, float beta, float* c, int ldc) {
  matmul(ctx, CUDA_R_32F, trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc, Epilogue::none, nullptr,
         nothing_before);
}

void gemm_16bit(const Context& ctx, Format16 format, bool trans_a, bool trans_b, int m, int n, int k, Operand16 a,
                Operand16 b, float beta, float* c, Epilogue epilogue, const float* bias, bool a_copied) {
  const bool copy_a = !a.stored16, copy_b = !b.stored16;
  const std::size_t needed = operands16_bytes(m, n, k, copy_a, copy_b);
  if (needed > ctx.operands16_bytes)
    throw Error("internal: gemm_16bit of [" + std::to_string(m) + ", " + std::to_string(k) + "] by [" +
                std::to_string(k) + ", " + std::to_string(n) + "] needs " + std::to_string(needed) +
                " bytes of operand copies, and the program allotted " + std::to_string(ctx.operands16_bytes) +
                " (DeviceSteps::operands16_bytes); regenerate it");
  auto* const a_copy = static_cast<std::uint16_t*>(ctx.operands16);
  auto* const b_copy = a_copy + operands16_a_bytes(m, k, copy_a) / 2;  // after A's copy, 256-byte aligned
  const void* const a16 = copy_a ? a_copy : a.data;
  const void* const b16 = copy_b ? b_copy : b.data;
  const cudaDataType_t input = format == Format16::bf16 ? CUDA_R_16BF : CUDA_R_16F;
  auto copy = [&] {
    if (copy_a && !a_copied)
      copy_to_16bit(ctx, format, a_copy, static_cast<const float*>(a.data), static_cast<std::int64_t>(m) * k);
    if (copy_b) copy_to_16bit(ctx, format, b_copy, static_cast<const float*>(b.data), static_cast<std::int64_t>(k) * n);
  };
  dense_matmul(ctx, input, trans_a, trans_b, m, n, k, a16, b16, beta, c, epilogue, bias, copy);
}

}  // namespace ltrt::cuda
