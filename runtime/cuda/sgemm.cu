// Row-major GEMM on cuBLASLt (column-major): C = op(A) op(B) is computed as
// C^T = op(B)^T op(A)^T, so B is cuBLAS's first operand and A its second.
#include <cstdint>
#include <utility>

#include "ltrt/cuda/context.cuh"

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

// The alignment every matrix of a strided batch has: each starts `stride` floats after the
// previous one, and its rows `ld` floats apart (a head's block starts mid-row of [q | k | v]).
std::uint32_t alignment(const StridedMatrix& m, int batch) {
  if (batch == 1) return alignment(m.data);  // a dense operand: as ltrt::cuda::sgemm always did
  std::uint32_t a = alignment(m.data);
  const std::uint64_t ld_bytes = static_cast<std::uint64_t>(m.ld) * sizeof(float);
  const std::uint64_t stride_bytes = static_cast<std::uint64_t>(m.stride) * sizeof(float);
  while (a > 1 && (ld_bytes % a != 0 || stride_bytes % a != 0)) a /= 2;
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

cublasLtEpilogue_t lt_epilogue(Epilogue e) {
  switch (e) {
    case Epilogue::none: return CUBLASLT_EPILOGUE_DEFAULT;
    case Epilogue::bias: return CUBLASLT_EPILOGUE_BIAS;
    case Epilogue::relu: return CUBLASLT_EPILOGUE_RELU;
    case Epilogue::relu_bias: return CUBLASLT_EPILOGUE_RELU_BIAS;
  }
  return CUBLASLT_EPILOGUE_DEFAULT;
}

// A column-major layout of `rows` x `cols` with leading dimension `ld`; with batch > 1, also the
// batch's count and the distance between its matrices.
void create_layout(cublasLtMatrixLayout_t* layout, int rows, int cols, int ld, int batch, std::int64_t stride) {
  LTRT_CUDA_CHECK(cublasLtMatrixLayoutCreate(layout, CUDA_R_32F, rows, cols, ld));
  if (batch == 1) return;
  LTRT_CUDA_CHECK(cublasLtMatrixLayoutSetAttribute(*layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch));
  LTRT_CUDA_CHECK(
      cublasLtMatrixLayoutSetAttribute(*layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
}

// The one cuBLASLt call behind sgemm and sgemm_strided_batched: row-major, so C^T = op(B)^T op(A)^T.
// False (nothing enqueued) when cuBLASLt has no algorithm with this epilogue.
bool matmul(const Context& ctx, bool trans_a, bool trans_b, int m, int n, int k, float alpha, StridedMatrix a,
            StridedMatrix b, float beta, float* c, int ldc, std::int64_t stride_c, int batch, Epilogue epilogue,
            const float* bias) {
  MatmulDescriptors d;
  // float32 in, float32 accumulation: CUBLAS_COMPUTE_32F never rounds inputs to TF32;
  // _FAST_TF32 may, for tensor cores (torch's allow_tf32).
  const cublasComputeType_t compute = ctx.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  LTRT_CUDA_CHECK(cublasLtMatmulDescCreate(&d.op, compute, CUDA_R_32F));
  const cublasOperation_t op_first = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;  // B, seen column-major
  const cublasOperation_t op_second = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;  // A, seen column-major
  LTRT_CUDA_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &op_first, sizeof op_first));
  LTRT_CUDA_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &op_second, sizeof op_second));
  const cublasLtEpilogue_t e = lt_epilogue(epilogue);
  LTRT_CUDA_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &e, sizeof e));
  if (epilogue == Epilogue::bias || epilogue == Epilogue::relu_bias)
    LTRT_CUDA_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
  // Column-major shapes (rows, cols, leading dimension) of the stored matrices.
  // B row-major [k, n] is column-major [n, k]; transposed, row-major [n, k] is column-major [k, n].
  if (trans_b) create_layout(&d.first, k, n, b.ld, batch, b.stride);
  else create_layout(&d.first, n, k, b.ld, batch, b.stride);
  if (trans_a) create_layout(&d.second, m, k, a.ld, batch, a.stride);
  else create_layout(&d.second, k, m, a.ld, batch, a.stride);
  create_layout(&d.out, n, m, ldc, batch, stride_c);
  LTRT_CUDA_CHECK(cublasLtMatmulPreferenceCreate(&d.preference));
  const std::uint64_t workspace = ctx.workspace_bytes;
  LTRT_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(d.preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                       &workspace, sizeof workspace));
  const std::pair<cublasLtMatmulPreferenceAttributes_t, std::uint32_t> alignments[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, alignment(b, batch)},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, alignment(a, batch)},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, alignment(StridedMatrix{c, ldc, stride_c}, batch)},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, alignment(StridedMatrix{c, ldc, stride_c}, batch)},
  };
  for (const auto& [attribute, bytes] : alignments)
    LTRT_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(d.preference, attribute, &bytes, sizeof bytes));
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  const cublasStatus_t asked = cublasLtMatmulAlgoGetHeuristic(ctx.blas, d.op, d.first, d.second, d.out, d.out,
                                                              d.preference, 1, &heuristic, &found);
  if (epilogue != Epilogue::none && (asked == CUBLAS_STATUS_NOT_SUPPORTED || (asked == CUBLAS_STATUS_SUCCESS && found == 0)))
    return false;  // no algorithm fuses this epilogue: the caller runs it as a kernel
  LTRT_CUDA_CHECK(asked);
  if (found == 0) check(CUBLAS_STATUS_NOT_SUPPORTED, "cublasLtMatmulAlgoGetHeuristic (no algorithm)", __FILE__, __LINE__);
  LTRT_CUDA_CHECK(cublasLtMatmul(ctx.blas, d.op, &alpha, b.data, d.first, a.data, d.second, &beta, c, d.out, c, d.out,
                                 &heuristic.algo, ctx.workspace, ctx.workspace_bytes, ctx.stream));
  return true;
}

}  // namespace

void sgemm(const Context& ctx, bool trans_a, bool trans_b, int m, int n, int k, const float* a, const float* b,
           float beta, float* c, Epilogue epilogue, const float* bias) {
  // Dense row-major operands: rows as long as the stored matrix is wide.
  const StridedMatrix dense_a{a, trans_a ? m : k, 0}, dense_b{b, trans_b ? k : n, 0};
  const bool fusable = !has_bias(epilogue) || alignment(bias) >= kBiasAlignment;
  if (fusable && matmul(ctx, trans_a, trans_b, m, n, k, 1.0f, dense_a, dense_b, beta, c, n, 0, 1, epilogue, bias))
    return;
  matmul(ctx, trans_a, trans_b, m, n, k, 1.0f, dense_a, dense_b, beta, c, n, 0, 1, Epilogue::none, nullptr);
  if (epilogue == Epilogue::none) return;
  constexpr int kThreads = 256;
  const std::int64_t count = static_cast<std::int64_t>(m) * n;
  const bool relu = epilogue == Epilogue::relu || epilogue == Epilogue::relu_bias;
  epilogue_kernel<<<blocks_for(count, kThreads), kThreads, 0, ctx.stream>>>(c, has_bias(epilogue) ? bias : nullptr,
                                                                             relu, n, count);
}

void sgemm_strided_batched(const Context& ctx, bool trans_a, bool trans_b, int m, int n, int k, float alpha,
                           StridedMatrix a, StridedMatrix b, float beta, float* c, int ldc, std::int64_t stride_c,
                           int batch) {
  if (batch == 0) return;
  matmul(ctx, trans_a, trans_b, m, n, k, alpha, a, b, beta, c, ldc, stride_c, batch, Epilogue::none, nullptr);
}

}  // namespace ltrt::cuda
