/// \file
/// Whether the generated program can index every tensor of a graph. Its CPU loops and its CUDA
/// kernels count the elements, rows and offsets inside one tensor in 32-bit `int` (on a GPU, 64-bit
/// division and products cost several times more; on the CPU, the loops are written once for both
/// widths of batch), so a tensor of 2^31 elements or more would wrap to negative indices:
/// GPT-2's logits at batch 48 (48 x 1024 x 50304) would.
#pragma once

#include <cstdint>
#include <string>

#include "ir.hpp"

namespace ltgen {

/// The most elements a tensor of a generated program may hold: INT_MAX less a block of threads, as
/// a CUDA kernel's last block's threads past the end still compute their index (up to count + 1023)
/// in int. The CPU program would allow INT_MAX; one limit keeps a spec valid for both.
constexpr std::int64_t kMaxIndexedElements = 2147483647 - 1024;

/// What stops the graph's program, with the JSON path to fix: an empty reason when every tensor
/// fits, else one naming the largest tensor (its shape and the spec node it comes from) and, for a
/// batched one, the largest batch_size that fits.
struct IndexSizeProblem {
  std::string json_path;
  std::string reason;
};
IndexSizeProblem check_index_sizes(const Graph& g);

}  // namespace ltgen
