/// \file
/// Which values the CUDA program keeps as 16-bit numbers. Under mixed precision every tensor is
/// float32 holding bfloat16 (or float16) values where torch holds that dtype (autocast.hpp). A
/// 16-bit value whose every reader is a Linear's GEMM on 16-bit tensor cores (its input and
/// weight, the rounded gradient of its output, which its bias gradient sums too), written by a
/// node whose lowering can (OpDef::cuda_writes16: a cast, `to_bf16`; a unary activation such as
/// GELU; an Add, a gradient's sum; CrossEntropyLoss's backward, the logits' gradient), is written
/// as 16-bit bits instead, in the first half of its float32 slot: the GEMMs read
/// them as they are, with no copy (ltrt::cuda::gemm_16bit), and its writer writes half the bytes.
/// The memory plan and the CPU program stay as they are.
#pragma once

#include <string>
#include <vector>

#include "ir.hpp"

namespace ltgen {

/// Whether every GPU the program is built for multiplies the dtype of `precision` ("bf16-mixed",
/// "16-mixed") on its tensor cores: bfloat16 from sm_80 on (`tensor_cores`, CudaTarget), float16
/// from sm_70 on, which is every GPU CUDA 13 builds for (Turing's T4 too). False for other precisions.
bool gemms_16bit(const std::string& precision, bool tensor_cores);

/// Per value of g: whether the CUDA program stores it as 16-bit bits. None unless `gemms16`
/// (gemms_16bit).
std::vector<bool> values_stored16(const Graph& g, bool gemms16);

/// Whether a Linear (forward or backward) node's GEMMs run on 16-bit tensor cores: `gemms16`
/// (gemms_16bit) and every GEMM operand holds 16-bit values (Value::bf16).
bool linear_gemms_16bit(const Node& n, const Graph& g, bool gemms16);

}  // namespace ltgen
