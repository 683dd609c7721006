// What generated CUDA code and the runtime's device side share: the context a step is
// enqueued with, the scalars that change from one graph replay to the next, status checks,
// the row-major GEMM (cuBLASLt) and Dropout's counter-based generator.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include <cublasLt.h>
#include <cuda_runtime.h>

#include "ltrt/counter_uniform.hpp"
#include "ltrt/cuda/exact16.cuh"
#include "ltrt/model.hpp"

namespace ltrt::cuda {

// Per-step values in device memory: a captured graph reads them when it runs, so the host
// changes them between replays with one copy instead of re-capturing.
struct StepScalars {
  float loss_scale;             // d(loss) backward starts from: 1 / accumulate_grad_batches (times
                                // the GradScaler's scale under "16-mixed")
  // "16-mixed": the gradients are multiplied by inv_scale before clipping and the optimizer step;
  // unscale_gradients sets found_inf (staged as 0) when one of them is not finite, and the
  // optimizer kernels then leave everything as it was (GradScaler.step skips optimizer.step()).
  float inv_scale;
  int found_inf;
  std::uint64_t dropout_seed;   // this step's Dropout stream, drawn from the host's dropout generator
  // The optimizer step's scalars, computed on the host in float64 as torch.optim does and
  // rounded to float exactly as the CPU kernels round them (runtime/src/sgd.cpp, adam.cpp, adamax.cpp,
  // radam.cpp, nadam.cpp, rmsprop.cpp, adagrad.cpp, asgd.cpp).
  // Per parameter group (the kernel of group g reads entry g), from its lr, momentum, betas, ...
  float neg_lr[kMaxParamGroups];           // SGD, RMSprop, RAdam, Adadelta, Rprop: -lr
  float momentum[kMaxParamGroups];         // SGD, RMSprop: momentum (OneCycleLR may cycle it)
  float lerp_weight[kMaxParamGroups];      // Adam, Adamax, RAdam, NAdam: 1 - beta1 (OneCycleLR may cycle beta1)
  float neg_step_size[kMaxParamGroups];    // Adam, Adamax: -lr / (1 - beta1^step); Adagrad: -lr / (1 + (step - 1) lr_decay)
  float decoupled_scale[kMaxParamGroups];  // AdamW: 1 - lr * weight_decay
  float bias_correction1[kMaxParamGroups];  // RAdam: 1 - beta1^step (beta1 may be cycled)
  float nadam_grad_value[kMaxParamGroups];     // NAdam: -lr (1 - mu) / (1 - mu_product)
  float nadam_exp_avg_value[kMaxParamGroups];  // NAdam: -lr mu_next / (1 - mu_product mu_next)
  float asgd_decay[kMaxParamGroups];           // ASGD: 1 - lambd * eta
  float asgd_neg_eta[kMaxParamGroups];         // ASGD: -eta
  float asgd_mu[kMaxParamGroups];              // ASGD: the averaging weight (t0 is the group's)
  int asgd_average[kMaxParamGroups];           // ASGD: mu != 1 (else ax = param)
  float bias_correction2_sqrt[kMaxParamGroups];  // Adam, RAdam: sqrt(1 - beta2^step)
  float bias_correction2[kMaxParamGroups];       // NAdam: 1 - beta2^step
  int radam_rectified[kMaxParamGroups];          // RAdam: rho_t > 5, the step is rectified by radam_rect
  float radam_rect[kMaxParamGroups];
  int first_step[kMaxParamGroups];  // SGD: the momentum buffer starts as the gradient; Adagrad: the sum as its
                                    // initial value; Rprop: step_size as the lr, prev as 0
  // StochasticWeightAveraging's BatchNorm epoch: the BatchNorm forwards that can switch average
  // their running statistics cumulatively (momentum=None: 1 / num_batches_tracked) while it is 1.
  int batch_norm_momentum_none;
};

class DeviceGroup;  // ltrt/cuda/device_group.cuh

// What a generated step function needs besides the arena.
struct Context {
  cudaStream_t stream;
  cublasLtHandle_t blas;
  void* workspace;              // cuBLASLt's workspace, part of the run's one allocation
  std::size_t workspace_bytes;
  const StepScalars* scalars;   // device memory
  bool tf32 = false;            // GEMMs may use TF32 tensor cores (ModelDef::tf32_matmul)
  void* operands16 = nullptr;   // gemm_16bit's copies of its operands (DeviceSteps::operands16_bytes)
  std::size_t operands16_bytes = 0;
  // DDP's ranks (NCCL), whose sums SyncBatchNorm's steps enqueue; null with one process.
  const DeviceGroup* ranks = nullptr;
};

// Throw ltrt::Error naming the call and where it was made when a status is not success.
void check(cudaError_t status, const char* call, const char* file, int line);
void check(cublasStatus_t status, const char* call, const char* file, int line);

inline unsigned blocks_for(std::int64_t count, int threads) {
  return static_cast<unsigned>((count + threads - 1) / threads);
}

// The splits of `rows` that a column-sum kernel's blocks share when its columns give only
// `column_blocks` blocks (generated code's dbias and LayerNorm parameter gradients): enough blocks
// to fill a large GPU, at least kMinRows rows a split, and partial sums (`partial_floats` a split)
// that fit ctx.workspace. 1: no split.
inline int column_sum_splits(int rows, int column_blocks, std::int64_t partial_floats, const Context& ctx) {
  constexpr std::int64_t kTargetBlocks = 264;  // TUNE: two per SM of an H100 or H200 (132 SMs)
  constexpr std::int64_t kMinRows = 256;       // TUNE: 8 rows a lane of the block's 32
  std::int64_t splits = (kTargetBlocks + column_blocks - 1) / column_blocks;
  splits = std::min<std::int64_t>(splits, (rows + kMinRows - 1) / kMinRows);
  splits = std::min<std::int64_t>(splits, static_cast<std::int64_t>(ctx.workspace_bytes / 4) / partial_floats);
  return splits < 1 ? 1 : static_cast<int>(splits);
}

// cuBLASLt's fused epilogues that generated code uses.
enum class Epilogue { none, bias, relu, relu_bias };

// Row-major C[m,n] = op(A)[m,k] op(B)[k,n] + beta * C, then the epilogue (bias has n
// elements, one per column of C), on ctx.stream: ltrt::sgemm's contract, in float32 with
// float32 accumulation (inputs rounded to TF32 when ctx.tf32).
void sgemm(const Context& ctx, bool trans_a, bool trans_b, int m, int n, int k, const float* a, const float* b,
           float beta, float* c, Epilogue epilogue = Epilogue::none, const float* bias = nullptr);
// sgemm on strided row-major matrices: lda, ldb and ldc are the distances between rows of the
// stored A, B and C (ltrt::sgemm_ld's contract with alpha 1): one time step's rows of a
// (batch, T, features) sequence, say.
void sgemm_ld(const Context& ctx, bool trans_a, bool trans_b, int m, int n, int k, const float* a, int lda,
              const float* b, int ldb, float beta, float* c, int ldc);

// An operand of gemm_16bit: float32 values that its format holds exactly (copied to 16 bits
// before the multiply), or the 16-bit bits themselves, read in place (a cast, an activation, a
// gradient's sum or a loss's backward that wrote them so: cuda_storage16 in the generator).
// Implicit on purpose: generated code passes either pointer as it is.
struct Operand16 {
  const void* data;
  bool stored16;
  Operand16(const float* values) : data(values), stored16(false) {}
  Operand16(const std::uint16_t* bits) : data(bits), stored16(true) {}
};

// sgemm for A and B whose every element `format` holds exactly (mixed precision's casts and
// rounded tensors), on 16-bit tensor cores, whose products are exact and summed in float32: the
// same arithmetic as sgemm on TF32 tensor cores (exact on such values), at twice their rate. A
// float32 operand is copied to 16 bits in ctx.operands16 first (A's copy at its start, B's after
// it); a 16-bit one is read where it is. `a_copied`: A is the float32 A of the previous
// gemm_16bit on ctx.stream, whose copy is still there (a Linear's backward reads dout twice).
// Throws ltrt::Error when the copies do not fit ctx.operands16_bytes.
void gemm_16bit(const Context& ctx, Format16 format, bool trans_a, bool trans_b, int m, int n, int k, Operand16 a,
                Operand16 b, float beta, float* c, Epilogue epilogue = Epilogue::none, const float* bias = nullptr,
                bool a_copied = false);

// The bytes of ctx.operands16 that gemm_16bit needs for an [m, k] A and a [k, n] B: A's copy
// (when `copy_a`) rounded up to 256 bytes, cuBLASLt's best alignment, then B's (when `copy_b`).
constexpr std::size_t operands16_a_bytes(std::int64_t m, std::int64_t k, bool copy_a = true) {
  return copy_a ? (static_cast<std::size_t>(m * k) * 2 + 255) / 256 * 256 : 0;
}
constexpr std::size_t operands16_bytes(std::int64_t m, std::int64_t n, std::int64_t k, bool copy_a = true,
                                       bool copy_b = true) {
  return operands16_a_bytes(m, k, copy_a) + (copy_b ? static_cast<std::size_t>(k * n) * 2 : 0);
}

// Uniform float in [0, 1) from (seed, stream, index) (ltrt/counter_uniform.hpp): each element of
// each layer gets its own number, in any order.
__device__ inline float uniform(std::uint64_t seed, std::uint32_t stream, std::uint64_t index) {
  return counter_uniform(seed, stream, index);
}

}  // namespace ltrt::cuda

#define LTRT_CUDA_CHECK(call) ::ltrt::cuda::check((call), #call, __FILE__, __LINE__)
// After a kernel launch: a bad configuration shows at once, not at the next synchronisation.
#define LTRT_CUDA_CHECK_LAUNCH(kernel) ::ltrt::cuda::check(cudaGetLastError(), kernel, __FILE__, __LINE__)

namespace ltrt::cuda {

// Throws ltrt::Error: kernel `name` needs `bytes` of shared memory per block, and the current GPU
// allows a block at most `limit`.
[[noreturn]] void refuse_shared_memory(const char* name, int bytes, int limit);

// Once before a program's first tensor-core kernel (prepare_kernels): mma.sync on the current
// GPU against the fragment layouts of ltrt/cuda/mma.cuh, on exact small integers, and a 3xTF32
// product of fractions against float64 (within 1e-5). Throws ltrt::Error naming the GPU and the
// first wrong element where either is off: kernels built on them would compute wrong results
// there, silently.
void check_tensor_cores();

// Lets `kernel` have `bytes` of dynamic shared memory, over the 48 KB a block gets without asking
// (prepare_kernels, once, before any graph capture). A GPU that allows a block less is refused
// with a message naming the kernel, instead of cudaFuncSetAttribute's bare invalid argument.
template <class Kernel>
void allow_shared_memory(Kernel* kernel, int bytes, const char* name) {
  int device = 0, limit = 0;
  LTRT_CUDA_CHECK(cudaGetDevice(&device));
  LTRT_CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  if (bytes > limit) refuse_shared_memory(name, bytes, limit);
  LTRT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
}

}  // namespace ltrt::cuda
