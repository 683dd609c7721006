/// \file
/// Which values the CUDA program keeps as 16-bit numbers. Under mixed precision every tensor is
/// float32 holding bfloat16 (or float16) values where torch holds that dtype (autocast.hpp). A
/// 16-bit value whose every reader is a Linear's GEMM on 16-bit tensor cores (its input and
/// weight, the rounded gradient of its output, which its bias gradient sums too), written by a
/// node whose lowering can (OpDef::cuda_writes16: a cast, `to_bf16`, or a unary activation such as
/// GELU), is written as 16-bit bits instead, in the first half of its float32 slot: the GEMMs read
/// them as they are, with no copy (ltrt::cuda::gemm_16bit), and its writer writes half the bytes.
/// The memory plan and the CPU program stay as they are.
#pragma once

#include <vector>

#include "ir.hpp"

namespace ltgen {

/// Per value of g: whether the CUDA program stores it as 16-bit bits. None unless every target GPU
/// has 16-bit tensor cores (`tensor_cores`, CudaTarget).
std::vector<bool> values_stored16(const Graph& g, bool tensor_cores);

/// Whether a Linear (forward or backward) node's GEMMs run on 16-bit tensor cores: every target
/// has them and every GEMM operand holds 16-bit values (Value::bf16).
bool linear_gemms_16bit(const Node& n, const Graph& g, bool tensor_cores);

}  // namespace ltgen
