/// \file
/// trainer.precision "bf16-mixed" on the CPU: what `torch.autocast("cpu", dtype=torch.bfloat16)`
/// does to the forward graph, as explicit roundings. Tensors stay float32; those torch holds in
/// bfloat16 are marked (Value::bf16) and hold values bfloat16 represents:
/// - a Linear's or Conv's float32 operands (input, weight, bias) are cast (`to_bf16` nodes, at
///   every use: Lightning's autocast does not cache casts) and its output rounded: torch's bfloat16
///   GEMM sums the exact products in float32 and rounds once;
/// - ops that keep their input's dtype (activations, Add and Mul of two bfloat16 tensors) round
///   their result, in their own loop (a fused epilogue), so that a backward that reads the output
///   reads what torch saved;
/// - type promotion: an Add or Mul of a bfloat16 and a float32 tensor is float32, as are losses
///   (autocast's float32 list), Embedding and the residual stream;
/// - autodiff rounds the gradient of every bfloat16 value.
/// Torch's result is reproduced bit for bit up to the order of float32 sums. Ops whose bfloat16
/// kernels round differently (or not yet checked) are refused with the layer's place.
#pragma once

#include "ir.hpp"
#include "spec.hpp"

namespace ltgen {

/// Rewrites g's forward nodes for bf16-mixed; throws SpecError for an op it does not support.
void autocast_bf16(Graph& g, const Spec& spec);

}  // namespace ltgen
