// The emulated cuBLASLt: D = alpha op(A) op(B) + beta C (column-major; A and B float32, or both
// bfloat16 or both float16; C and D float32), then the epilogue, enqueued on the stream like any
// device work. Batches are refused: ltgen uses none.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cublasLt.h"

struct cublasLtContext {};

struct cublasLtMatmulDescOpaque_t {
  cublasComputeType_t compute;
  cudaDataType_t scale;
  cublasOperation_t trans_a = CUBLAS_OP_N, trans_b = CUBLAS_OP_N;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const float* bias = nullptr;
};

struct cublasLtMatrixLayoutOpaque_t {
  cudaDataType_t type;
  std::uint64_t rows, cols;
  std::int64_t ld;
};

struct cublasLtMatmulPreferenceOpaque_t {
  std::uint64_t workspace = 0;
  std::uint32_t align[4] = {256, 256, 256, 256};  // A, B, C, D: what the pointers will have at least
  std::uint64_t implementations = ~std::uint64_t{0};  // CUBLASLT_MATMUL_PREF_IMPL_MASK: every one
};

namespace {

// What an algorithm chosen by the heuristic remembers: the alignments it was chosen for.
struct Algo {
  std::uint32_t align[4];
  std::uint64_t workspace;
};
static_assert(sizeof(Algo) <= sizeof(cublasLtMatmulAlgo_t), "Algo fits the opaque algorithm");

template <class T>
cublasStatus_t read(const void* buf, std::size_t size, T& out) {
  if (buf == nullptr || size != sizeof(T)) return CUBLAS_STATUS_INVALID_VALUE;
  std::memcpy(&out, buf, sizeof(T));
  return CUBLAS_STATUS_SUCCESS;
}

std::uint32_t alignment_of(const void* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  std::uint32_t a = 256;
  while (a > 1 && address % a != 0) a /= 2;
  return a;
}

// op(X)'s shape from X's stored (column-major) layout.
void op_shape(const cublasLtMatrixLayoutOpaque_t& x, cublasOperation_t op, std::uint64_t& rows, std::uint64_t& cols) {
  rows = op == CUBLAS_OP_N ? x.rows : x.cols;
  cols = op == CUBLAS_OP_N ? x.cols : x.rows;
}

cublasStatus_t check_shapes(const cublasLtMatmulDescOpaque_t& d, const cublasLtMatrixLayoutOpaque_t& a,
                            const cublasLtMatrixLayoutOpaque_t& b, const cublasLtMatrixLayoutOpaque_t& c,
                            const cublasLtMatrixLayoutOpaque_t& out) {
  if ((d.compute != CUBLAS_COMPUTE_32F && d.compute != CUBLAS_COMPUTE_32F_FAST_TF32) || d.scale != CUDA_R_32F)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  // The combinations of cuBLASLt's table that ltgen uses: A and B of one type (float32, or 16-bit
  // with CUBLAS_COMPUTE_32F), C and D float32.
  const bool sixteen = a.type == CUDA_R_16BF || a.type == CUDA_R_16F;
  if ((a.type != CUDA_R_32F && !sixteen) || b.type != a.type || c.type != CUDA_R_32F || out.type != CUDA_R_32F ||
      (sixteen && d.compute != CUBLAS_COMPUTE_32F))
    return CUBLAS_STATUS_NOT_SUPPORTED;
  for (const auto* x : {&a, &b, &c, &out})
    if (x->ld < static_cast<std::int64_t>(std::max<std::uint64_t>(x->rows, 1))) return CUBLAS_STATUS_INVALID_VALUE;
  std::uint64_t am, ak, bk, bn;
  op_shape(a, d.trans_a, am, ak);
  op_shape(b, d.trans_b, bk, bn);
  if (ak != bk || am != out.rows || bn != out.cols || c.rows != out.rows || c.cols != out.cols)
    return CUBLAS_STATUS_INVALID_VALUE;
  switch (d.epilogue) {
    case CUBLASLT_EPILOGUE_DEFAULT:
    case CUBLASLT_EPILOGUE_RELU:
      return CUBLAS_STATUS_SUCCESS;
    case CUBLASLT_EPILOGUE_BIAS:
    case CUBLASLT_EPILOGUE_RELU_BIAS:
      return d.bias ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
    default:
      return CUBLAS_STATUS_NOT_SUPPORTED;  // GELU epilogues: not emulated
  }
}

// A float32 input as a TF32 tensor core reads it: 10 mantissa bits. Rounded to nearest (even)
// here; the hardware's own rounding is not specified, so tests compare TF32 results loosely.
float to_tf32(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  if ((bits & 0x7f800000u) == 0x7f800000u) return x;  // inf and NaN stay
  bits += 0xfffu + ((bits >> 13) & 1u);
  bits &= ~0x1fffu;
  std::memcpy(&x, &bits, sizeof bits);
  return x;
}

// A bfloat16's or float16's value (every one is a float32 value).
float from_16bit(std::uint16_t h, cudaDataType_t type) {
  std::uint32_t bits;
  if (type == CUDA_R_16BF) {
    bits = static_cast<std::uint32_t>(h) << 16;
  } else {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exponent = (h >> 10) & 0x1fu, fraction = h & 0x3ffu;
    if (exponent == 0x1f) {
      bits = sign | 0x7f800000u | (fraction << 13);  // infinity, NaN
    } else if (exponent != 0) {
      bits = sign | ((exponent + 112u) << 23) | (fraction << 13);
    } else {  // zero or subnormal: fraction * 2^-24, exact
      const float magnitude = static_cast<float>(fraction) * 5.9604644775390625e-8f;
      std::memcpy(&bits, &magnitude, sizeof bits);
      bits |= sign;
    }
  }
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

// Element (i, j) of op(X), X stored column-major with X's layout and type.
float element(const void* x, const cublasLtMatrixLayoutOpaque_t& l, cublasOperation_t op, std::uint64_t i,
              std::uint64_t j) {
  const std::uint64_t at = op == CUBLAS_OP_N ? i + j * static_cast<std::uint64_t>(l.ld)
                                             : j + i * static_cast<std::uint64_t>(l.ld);
  if (l.type == CUDA_R_32F) return static_cast<const float*>(x)[at];
  return from_16bit(static_cast<const std::uint16_t*>(x)[at], l.type);
}

}  // namespace

cublasStatus_t cublasLtCreate(cublasLtHandle_t* handle) {
  *handle = new cublasLtContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasLtGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}
const char* cublasLtGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_INVALID_VALUE: return "an unsupported value or parameter was passed to the function";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    default: return "error";
  }
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* desc, cublasComputeType_t compute, cudaDataType_t scale) {
  *desc = new cublasLtMatmulDescOpaque_t{compute, scale};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
  delete desc;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr,
                                              const void* buf, std::size_t size) {
  switch (attr) {
    case CUBLASLT_MATMUL_DESC_TRANSA: return read(buf, size, desc->trans_a);
    case CUBLASLT_MATMUL_DESC_TRANSB: return read(buf, size, desc->trans_b);
    case CUBLASLT_MATMUL_DESC_EPILOGUE: return read(buf, size, desc->epilogue);
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER: return read(buf, size, desc->bias);
    default: return CUBLAS_STATUS_NOT_SUPPORTED;
  }
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout, cudaDataType_t type, std::uint64_t rows,
                                          std::uint64_t cols, std::int64_t ld) {
  *layout = new cublasLtMatrixLayoutOpaque_t{type, rows, cols, ld};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  delete layout;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t, cublasLtMatrixLayoutAttribute_t, const void*,
                                                std::size_t) {
  return CUBLAS_STATUS_NOT_SUPPORTED;  // batches and other layout attributes: ltgen sets none
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
  *pref = new cublasLtMatmulPreferenceOpaque_t;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
  delete pref;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                    cublasLtMatmulPreferenceAttributes_t attr, const void* buf,
                                                    std::size_t size) {
  switch (attr) {
    case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES: return read(buf, size, pref->workspace);
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES: return read(buf, size, pref->align[0]);
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES: return read(buf, size, pref->align[1]);
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES: return read(buf, size, pref->align[2]);
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES: return read(buf, size, pref->align[3]);
    case CUBLASLT_MATMUL_PREF_IMPL_MASK: return read(buf, size, pref->implementations);
    default: return CUBLAS_STATUS_NOT_SUPPORTED;
  }
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                                              cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                              cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
                                              cublasLtMatmulPreference_t pref, int requested,
                                              cublasLtMatmulHeuristicResult_t* results, int* found) {
  if (!handle || !desc || !a || !b || !c || !d || !pref || requested < 1 || !results || !found)
    return CUBLAS_STATUS_INVALID_VALUE;
  const cublasStatus_t shapes = check_shapes(*desc, *a, *b, *c, *d);
  if (shapes != CUBLAS_STATUS_SUCCESS) return shapes;
  // The one algorithm: 16-bit inputs on tensor cores; TF32 inputs on tensor cores with _FAST_TF32
  // (it rounds them, below); else float32 FMA. None when the preference's mask excludes what it uses.
  std::uint64_t uses = CUBLASLT_NUMERICAL_IMPL_FLAGS_FMA | CUBLASLT_NUMERICAL_IMPL_FLAGS_INPUT_32F;
  if (a->type == CUDA_R_16BF) uses = CUBLASLT_NUMERICAL_IMPL_FLAGS_HMMA | CUBLASLT_NUMERICAL_IMPL_FLAGS_INPUT_16BF;
  else if (a->type == CUDA_R_16F) uses = CUBLASLT_NUMERICAL_IMPL_FLAGS_HMMA | CUBLASLT_NUMERICAL_IMPL_FLAGS_INPUT_16F;
  else if (desc->compute == CUBLAS_COMPUTE_32F_FAST_TF32)
    uses = CUBLASLT_NUMERICAL_IMPL_FLAGS_HMMA | CUBLASLT_NUMERICAL_IMPL_FLAGS_INPUT_TF32;
  uses |= CUBLASLT_NUMERICAL_IMPL_FLAGS_ACCUMULATOR_32F;
  if ((uses & ~pref->implementations) != 0) {
    *found = 0;
    return CUBLAS_STATUS_SUCCESS;
  }
  results[0] = cublasLtMatmulHeuristicResult_t{};
  Algo algo{{pref->align[0], pref->align[1], pref->align[2], pref->align[3]}, pref->workspace};
  std::memcpy(results[0].algo.data, &algo, sizeof algo);
  results[0].state = CUBLAS_STATUS_SUCCESS;
  *found = 1;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void* alpha, const void* a,
                              cublasLtMatrixLayout_t a_layout, const void* b, cublasLtMatrixLayout_t b_layout,
                              const void* beta, const void* c, cublasLtMatrixLayout_t c_layout, void* d,
                              cublasLtMatrixLayout_t d_layout, const cublasLtMatmulAlgo_t* algo, void* workspace,
                              std::size_t workspace_bytes, cudaStream_t stream) {
  if (!handle || !desc || !alpha || !beta || !a || !b || !c || !d || !algo) return CUBLAS_STATUS_INVALID_VALUE;
  const cublasStatus_t shapes = check_shapes(*desc, *a_layout, *b_layout, *c_layout, *d_layout);
  if (shapes != CUBLAS_STATUS_SUCCESS) return shapes;
  Algo chosen;
  std::memcpy(&chosen, algo->data, sizeof chosen);
  // The algorithm may rely on the alignments it was chosen for.
  const void* pointers[4] = {a, b, c, d};
  for (int i = 0; i < 4; ++i)
    if (alignment_of(pointers[i]) < chosen.align[i]) return CUBLAS_STATUS_INVALID_VALUE;
  // The algorithm may use as much workspace as the preference allowed it.
  if (workspace_bytes < chosen.workspace) return CUBLAS_STATUS_INVALID_VALUE;
  if (workspace_bytes > 0 && !ltgen_emu::is_device_pointer(workspace)) return CUBLAS_STATUS_INVALID_VALUE;
  for (const void* p : {a, b, c, static_cast<const void*>(d)})
    if (!ltgen_emu::is_device_pointer(p)) return CUBLAS_STATUS_INVALID_VALUE;
  if (desc->bias && !ltgen_emu::is_device_pointer(desc->bias)) return CUBLAS_STATUS_INVALID_VALUE;
  // A bias epilogue is refused below 16-byte alignment: reported of real cuBLASLt (A100), so the
  // runtime must not ask for it.
  const bool adds_bias = desc->epilogue == CUBLASLT_EPILOGUE_BIAS || desc->epilogue == CUBLASLT_EPILOGUE_RELU_BIAS;
  if (adds_bias && alignment_of(desc->bias) < 16) return CUBLAS_STATUS_INVALID_VALUE;

  // Scalars are host values (the default pointer mode): read now, as cuBLASLt reads them.
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  const cublasLtMatmulDescOpaque_t op = *desc;
  const cublasLtMatrixLayoutOpaque_t la = *a_layout, lb = *b_layout, lc = *c_layout, ld = *d_layout;
  const void* A = a;
  const void* B = b;
  const auto* C = static_cast<const float*>(c);
  auto* D = static_cast<float*>(d);
  const bool tf32 = op.compute == CUBLAS_COMPUTE_32F_FAST_TF32;
  const cudaError_t queued = ltgen_emu::enqueue(stream, [=] {
    std::uint64_t m, k, n, unused;
    op_shape(la, op.trans_a, m, k);
    op_shape(lb, op.trans_b, unused, n);
    for (std::uint64_t j = 0; j < n; ++j)
      for (std::uint64_t i = 0; i < m; ++i) {
        float sum = 0.0f;  // float32 accumulation (CUBLAS_COMPUTE_32F, and _FAST_TF32's)
        for (std::uint64_t p = 0; p < k; ++p) {
          float x = element(A, la, op.trans_a, i, p), y = element(B, lb, op.trans_b, p, j);
          if (tf32) {
            x = to_tf32(x);
            y = to_tf32(y);
          }
          sum += x * y;
        }
        float v = al * sum;
        // beta == 0 ignores C entirely, as BLAS does (C may hold NaN).
        if (be != 0.0f) v += be * C[i + j * static_cast<std::uint64_t>(lc.ld)];
        if (op.epilogue == CUBLASLT_EPILOGUE_BIAS || op.epilogue == CUBLASLT_EPILOGUE_RELU_BIAS) v += op.bias[i];
        if (op.epilogue == CUBLASLT_EPILOGUE_RELU || op.epilogue == CUBLASLT_EPILOGUE_RELU_BIAS) v = v > 0.0f ? v : 0.0f;
        D[i + j * static_cast<std::uint64_t>(ld.ld)] = v;
      }
  }, "cublasLtMatmul");
  return queued == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}
