// LTRT_HOST_DEVICE: marks the runtime's scalar math (activations, exp/erfc) as callable from
// CUDA kernels too when nvcc compiles it; plain C++ sees nothing.
#pragma once

#ifdef __CUDACC__
#define LTRT_HOST_DEVICE __host__ __device__
#else
#define LTRT_HOST_DEVICE
#endif
