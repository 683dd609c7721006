// cublaslt_probe: which cuBLASLt kernels ltgen's sgemm gets for GPT-2 small's GEMMs, and how fast they are.
//
// For each GEMM of a gpt2_small training step (8192 rows; forward inp @ W^T, backward dinp = dout @ W
// and dW = dout^T @ inp, in ltgen's row-major convention) and for CUBLAS_COMPUTE_32F and
// CUBLAS_COMPUTE_32F_FAST_TF32, it builds the descriptors exactly as runtime/cuda/sgemm.cu does
// (C^T = op(B)^T op(A)^T, the pointers' alignments as preferences, 32 MiB of workspace) and prints:
//   - the first 8 heuristic results (index 0 is what sgemm runs): FMA or tensor op, TF32 input,
//     tile, stages, split-K, and the time of each;
//   - the first result when the preference excludes FMA kernels (CUBLASLT_MATMUL_PREF_IMPL_MASK);
//   - the first result when A's pointer is only 4-byte aligned (what an odd parameter offset gives);
//   - cublasGemmEx with the same compute type and layout (the legacy API that PyTorch's mm uses).
// Build: nvcc -O2 -std=c++17 -arch=sm_90 bench/cublaslt_probe.cu -o probe -lcublasLt -lcublas; run: ./probe [reps]
// (bench/gpu_device_run.sh does, where the file is).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#define CHECK_CUDA(x) check_cuda((x), #x, __LINE__)
#define CHECK_BLAS(x) check_blas((x), #x, __LINE__)

static void check_cuda(cudaError_t s, const char* what, int line) {
  if (s == cudaSuccess) return;
  std::fprintf(stderr, "line %d: %s: %s\n", line, what, cudaGetErrorString(s));
  std::exit(1);
}
static void check_blas(cublasStatus_t s, const char* what, int line) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  std::fprintf(stderr, "line %d: %s: cublas status %d\n", line, what, static_cast<int>(s));
  std::exit(1);
}

__global__ void fill(float* p, std::int64_t n, std::uint32_t seed) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  std::uint32_t z = static_cast<std::uint32_t>(i) * 2654435761u ^ seed;
  z ^= z >> 15;
  z *= 2246822519u;
  z ^= z >> 13;
  p[i] = static_cast<float>(z & 0xffffff) / 8388608.0f - 1.0f;
}

// As sgemm.cu: the largest power of two up to 256 that divides the address.
static std::uint32_t alignment(const void* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  std::uint32_t a = 256;
  while (a > 1 && address % a != 0) a /= 2;
  return a;
}

struct Gemm {
  const char* what;
  bool trans_a, trans_b;
  int m, n, k;
  float beta;
};

struct Lt {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t first = nullptr, second = nullptr, out = nullptr;
  ~Lt() {
    if (out) cublasLtMatrixLayoutDestroy(out);
    if (second) cublasLtMatrixLayoutDestroy(second);
    if (first) cublasLtMatrixLayoutDestroy(first);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

// sgemm.cu's descriptors for row-major C[m,n] = op(A) op(B).
static void describe(Lt& d, const Gemm& g, cublasComputeType_t compute) {
  CHECK_BLAS(cublasLtMatmulDescCreate(&d.op, compute, CUDA_R_32F));
  const cublasOperation_t op_first = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_second = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  CHECK_BLAS(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &op_first, sizeof op_first));
  CHECK_BLAS(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &op_second, sizeof op_second));
  if (g.trans_b) CHECK_BLAS(cublasLtMatrixLayoutCreate(&d.first, CUDA_R_32F, g.k, g.n, g.k));
  else CHECK_BLAS(cublasLtMatrixLayoutCreate(&d.first, CUDA_R_32F, g.n, g.k, g.n));
  if (g.trans_a) CHECK_BLAS(cublasLtMatrixLayoutCreate(&d.second, CUDA_R_32F, g.m, g.k, g.m));
  else CHECK_BLAS(cublasLtMatrixLayoutCreate(&d.second, CUDA_R_32F, g.k, g.m, g.k));
  CHECK_BLAS(cublasLtMatrixLayoutCreate(&d.out, CUDA_R_32F, g.n, g.m, g.n));
}

// Heuristic results for these pointers; impl_mask ~0 allows every implementation.
static std::vector<cublasLtMatmulHeuristicResult_t> heuristic(cublasLtHandle_t lt, const Lt& d, const float* a,
                                                              const float* b, const float* c, std::uint64_t workspace,
                                                              std::uint64_t impl_mask, int count) {
  cublasLtMatmulPreference_t pref = nullptr;
  CHECK_BLAS(cublasLtMatmulPreferenceCreate(&pref));
  CHECK_BLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
                                                  sizeof workspace));
  const std::uint32_t align_a = alignment(b), align_b = alignment(a), align_c = alignment(c);
  CHECK_BLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a,
                                                  sizeof align_a));
  CHECK_BLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b,
                                                  sizeof align_b));
  CHECK_BLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c,
                                                  sizeof align_c));
  CHECK_BLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c,
                                                  sizeof align_c));
  CHECK_BLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_IMPL_MASK, &impl_mask,
                                                  sizeof impl_mask));
  std::vector<cublasLtMatmulHeuristicResult_t> results(count);
  int found = 0;
  const cublasStatus_t s =
      cublasLtMatmulAlgoGetHeuristic(lt, d.op, d.first, d.second, d.out, d.out, pref, count, results.data(), &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (s != CUBLAS_STATUS_SUCCESS) found = 0;
  results.resize(found);
  return results;
}

static std::string describe_algo(const cublasLtMatmulAlgo_t& algo) {
  std::uint64_t impl = 0;
  int id = -1, tile = -1, stages = -1, splitk = -1;
  std::size_t written = 0;
  cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_NUMERICAL_IMPL_FLAGS, &impl, sizeof impl, &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof id, &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof tile, &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages, sizeof stages, &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitk, sizeof splitk, &written);
  const char* kind = (impl & CUBLASLT_NUMERICAL_IMPL_FLAGS_TENSOR_OP_MASK) ? "tensor_op" : "fma";
  const char* input = (impl & CUBLASLT_NUMERICAL_IMPL_FLAGS_INPUT_TF32) ? "tf32" : "f32";
  char text[160];
  std::snprintf(text, sizeof text, "%-9s in=%-4s algo=%d tile=%d stages=%d splitk=%d impl=0x%llx", kind, input, id,
                tile, stages, splitk, static_cast<unsigned long long>(impl));
  return text;
}

// Milliseconds per call, the mean of `reps` after two warm-up calls.
template <class Call>
static float time_ms(Call call, int reps) {
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  for (int i = 0; i < 2; ++i) call();
  CHECK_CUDA(cudaEventRecord(start));
  for (int i = 0; i < reps; ++i) call();
  CHECK_CUDA(cudaEventRecord(stop));
  CHECK_CUDA(cudaEventSynchronize(stop));
  float ms = 0;
  CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms / reps;
}

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 10;
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("# %s (sm_%d%d), cuBLASLt %zu\n", prop.name, prop.major, prop.minor, cublasLtGetVersion());

  constexpr int kRows = 8192;
  const int shapes[][2] = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}, {768, 50304}};  // {in, out}
  std::vector<Gemm> gemms;
  for (const auto& s : shapes) {
    const int in = s[0], out = s[1];
    gemms.push_back({"fwd  inp@W^T (TN)", false, true, kRows, out, in, 0.0f});
    gemms.push_back({"bwd  dout@W  (NN)", false, false, kRows, in, out, 0.0f});
    gemms.push_back({"bwd dout^T@inp (NT)", true, false, out, in, kRows, 1.0f});
  }

  const std::size_t max_floats = static_cast<std::size_t>(kRows) * 50304 + 64;
  float *a, *b, *c;
  void* workspace;
  constexpr std::uint64_t kWorkspace = 32u << 20;  // sgemm's (cuda_backend.cu kWorkspaceBytes)
  CHECK_CUDA(cudaMalloc(&a, max_floats * sizeof(float)));
  CHECK_CUDA(cudaMalloc(&b, max_floats * sizeof(float)));
  CHECK_CUDA(cudaMalloc(&c, max_floats * sizeof(float)));
  CHECK_CUDA(cudaMalloc(&workspace, kWorkspace));
  const unsigned blocks = static_cast<unsigned>((max_floats + 255) / 256);
  fill<<<blocks, 256>>>(a, max_floats, 1);
  fill<<<blocks, 256>>>(b, max_floats, 2);
  fill<<<blocks, 256>>>(c, max_floats, 3);
  CHECK_CUDA(cudaDeviceSynchronize());

  cublasLtHandle_t lt;
  cublasHandle_t blas;
  CHECK_BLAS(cublasLtCreate(&lt));
  CHECK_BLAS(cublasCreate(&blas));

  const cublasComputeType_t computes[] = {CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_FAST_TF32};
  for (const Gemm& g : gemms) {
    const double flop = 2.0 * g.m * g.n * g.k;
    for (cublasComputeType_t compute : computes) {
      const char* cname = compute == CUBLAS_COMPUTE_32F ? "32F" : "FAST_TF32";
      std::printf("\n%s m=%d n=%d k=%d %s\n", g.what, g.m, g.n, g.k, cname);
      Lt d;
      describe(d, g, compute);
      auto run_lt = [&](const cublasLtMatmulAlgo_t& algo, const float* pa) {
        const float alpha = 1.0f;
        CHECK_BLAS(cublasLtMatmul(lt, d.op, &alpha, b, d.first, pa, d.second, &g.beta, c, d.out, c, d.out, &algo,
                                  workspace, kWorkspace, 0));
      };
      auto report = [&](const char* label, const cublasLtMatmulHeuristicResult_t& r, const float* pa) {
        const float ms = time_ms([&] { run_lt(r.algo, pa); }, reps);
        std::printf("  %-12s %s ws=%zu  %8.3f ms %7.1f TFLOP/s\n", label, describe_algo(r.algo).c_str(),
                    r.workspaceSize, ms, flop / ms / 1e9);
      };
      const auto all = heuristic(lt, d, a, b, c, kWorkspace, ~0ull, 8);
      if (all.empty()) std::printf("  no algorithm\n");
      for (std::size_t i = 0; i < all.size(); ++i) {
        char label[32];
        std::snprintf(label, sizeof label, i == 0 ? "lt[0]=sgemm" : "lt[%zu]", i);
        report(label, all[i], a);
      }
      const auto tensor = heuristic(lt, d, a, b, c, kWorkspace, ~CUBLASLT_NUMERICAL_IMPL_FLAGS_FMA, 1);
      if (tensor.empty()) std::printf("  no-fma       no algorithm\n");
      else report("no-fma", tensor[0], a);
      // A (the second operand) 4 bytes past an aligned address: sgemm's preference becomes 4 bytes.
      const auto odd = heuristic(lt, d, a + 1, b, c, kWorkspace, ~0ull, 1);
      if (odd.empty()) std::printf("  A+4B         no algorithm\n");
      else report("A+4B", odd[0], a + 1);
      // The legacy API with the same layout and compute type.
      const cublasOperation_t op_first = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
      const cublasOperation_t op_second = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
      const int ld_first = g.trans_b ? g.k : g.n, ld_second = g.trans_a ? g.m : g.k;
      const float alpha = 1.0f;
      const float ms = time_ms(
          [&] {
            CHECK_BLAS(cublasGemmEx(blas, op_first, op_second, g.n, g.m, g.k, &alpha, b, CUDA_R_32F, ld_first, a,
                                    CUDA_R_32F, ld_second, &g.beta, c, CUDA_R_32F, g.n, compute,
                                    CUBLAS_GEMM_DEFAULT));
          },
          reps);
      std::printf("  %-12s %-70s %8.3f ms %7.1f TFLOP/s\n", "cublasGemmEx", "(legacy API, as torch.mm)", ms,
                  flop / ms / 1e9);
    }
  }
  CHECK_CUDA(cudaDeviceSynchronize());
  cublasDestroy(blas);
  cublasLtDestroy(lt);
  return 0;
}
