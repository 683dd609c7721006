// Reductions for kernels that give a row to a warp or to a block. Each thread holds its share
// of a row (a strided loop over the row's elements); these combine the shares in a tree of a
// fixed shape, so a result is the same on every run (no atomics), and every thread gets it.
// A row's sum therefore adds in another order than the CPU program's loop: the results agree to
// rounding, not to the bit.
#pragma once

#include <cuda_runtime.h>

namespace ltrt::cuda {

constexpr int kWarp = 32;  // threads of a warp, as a constant the compiler can unroll by

struct Sum {
  template <class T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};

struct Max {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// v combined over the 32 lanes of a warp. A butterfly: lane l adds lane l ^ offset's value,
// and a + b == b + a, so every lane ends with the same bits.
template <class T, class Op>
__device__ inline T warp_reduce(T v, Op op) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// v combined over the block (blockDim.x a multiple of 32): each warp's result goes to
// partial[warp] (the kernel's `__shared__ T partial[32]`), then every warp combines those, so
// no second broadcast is needed. `identity` stands for the warps the block does not have.
template <class T, class Op>
__device__ inline T block_reduce(T v, T* partial, T identity, Op op) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  v = warp_reduce(v, op);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = warp_reduce(lane < static_cast<int>(blockDim.x) / kWarp ? partial[lane] : identity, op);
  __syncthreads();  // every warp has read partial before a next reduction writes it
  return v;
}

}  // namespace ltrt::cuda
