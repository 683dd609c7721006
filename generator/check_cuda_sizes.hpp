/// \file
/// Whether the CUDA lowering can index every tensor of a graph. Its kernels and launches count
/// the elements, rows and offsets inside one tensor in 32-bit `int` (64-bit division and products
/// cost several times more on a GPU), so a tensor of 2^31 elements or more would wrap to
/// negative indices there: GPT-2's logits at batch 48 (48 x 1024 x 50304) would.
#pragma once

#include <cstdint>
#include <string>

#include "ir.hpp"

namespace ltgen {

/// The most elements a tensor of the CUDA program may hold: INT_MAX less a block of threads, as
/// the last block's threads past the end still compute their index (up to count + 1023) in int.
constexpr std::int64_t kCudaMaxElements = 2147483647 - 1024;

/// What stops the graph's CUDA program, with the JSON path to fix: an empty reason when every
/// tensor fits, else one naming the largest tensor (its shape and the spec node it comes from)
/// and, for a batched one, the largest batch_size that fits.
struct CudaSizeProblem {
  std::string json_path;
  std::string reason;
};
CudaSizeProblem check_cuda_sizes(const Graph& g);

}  // namespace ltgen
