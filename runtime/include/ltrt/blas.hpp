// The BLAS routine generated code calls, declared here so that a generated
// project needs a BLAS library but no particular vendor's cblas.h.
#pragma once

#include <cstdlib>
#include <initializer_list>
#include <string>

extern "C" {
enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112, CblasConjTrans = 113 };
void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE trans_a, enum CBLAS_TRANSPOSE trans_b,
                 int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
                 float beta, float* c, int ldc);
}

namespace ltrt {

// Row-major C[m,n] = alpha * op(A) op(B) + beta * C on sub-matrices: rows lda, ldb, ldc floats
// apart (one head's columns of a [q | k | v] row, say). A large product is split by rows of C (or
// by columns, when it has more) among the step's threads (ltrt/workers.hpp), each part one
// cblas_sgemm call on one thread: OpenBLAS's own threads are turned off, so that one pool of
// threads runs the whole step, GEMMs and the passes between them alike (two pools on the same
// cores take turns at each other's expense). Each part keeps at least 2^20 multiply-adds, so that
// with OpenBLAS's AVX-512 kernels every element of C has the bits the whole call would give it
// whatever the number of threads; its AVX2 kernels round a split product differently
// (runtime/src/blas.cpp, tests/runtime/blas_split_test.cpp).
void sgemm_ld(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
              const float* b, int ldb, float beta, float* c, int ldc);

// Row-major C[m,n] = op(A) op(B) + beta * C.
inline void sgemm(bool trans_a, bool trans_b, int m, int n, int k, const float* a, const float* b,
                  float beta, float* c) {
  sgemm_ld(trans_a, trans_b, m, n, k, 1.0f, a, trans_a ? m : k, b, trans_b ? k : n, beta, c, n);
}

int usable_cores();  // ltrt/workers.hpp

// How many threads a step runs on, counted as OpenBLAS counts its own: OPENBLAS_NUM_THREADS, else
// OMP_NUM_THREADS, else the cores this process may use (its CPU affinity). The step's GEMMs
// (sgemm_ld), its split loops (ltrt/parallel_for.hpp) and the recurrent layers' own GEMM
// (ltrt/packed_gemm.hpp) split their work among as many (ltrt/workers.hpp).
inline int blas_threads() {
  static const int threads = [] {
    for (const char* name : {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"})
      if (const char* v = std::getenv(name); v && std::atoi(v) > 0) return std::atoi(v);
    return usable_cores();
  }();
  return threads;
}

// Empty, or why the BLAS library runs kernels far slower than this CPU allows and how to fix it:
// OpenBLAS (DYNAMIC_ARCH) picks its kernels by the CPU's model number when it loads, and a release
// older than the CPU (Debian 12's 0.3.21 on an Intel family 6 model 207, say) falls back to its
// generic Prescott kernels. OPENBLAS_CORETYPE chooses them, read only as the library loads.
std::string blas_kernels_warning();

}  // namespace ltrt
