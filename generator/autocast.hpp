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

/// Rewrites g's forward nodes for bf16-mixed (and 16-mixed: the same places, see below); throws
/// SpecError for an op it does not support.
void autocast_bf16(Graph& g, const Spec& spec);

/// "16-mixed" marks the same values (torch's CPU autocast keeps one list for both dtypes, and its
/// float16 kernels round where its bfloat16 ones do), and the format is the emitters' choice: the
/// CUDA program of a "16-mixed" spec rounds them to float16 (a GradScaler scales its loss); its
/// CPU program, which runs where "auto" finds no GPU, runs bf16-mixed as Lightning does there.
/// Emitted code rounds with autocast_round(): "ltrt::round_bf16", or "ltrt::round_fp16" while a
/// Float16Emission lives. The IR's "bf16" names (Value::bf16, to_bf16) mean autocast's dtype.
std::string autocast_round();
float autocast_round_value(float x);   // the same rounding, for constants computed here
const char* autocast_dtype_name();     // "bfloat16" or "float16", for comments
const char* autocast_precision();      // "bf16-mixed" or "16-mixed", for comments
const char* autocast_format16();       // the runtime's ltrt::cuda::Format16 of the dtype
const char* autocast_bits16();         // its 16-bit bits of a value it holds (ltrt/cuda/exact16.cuh)
const char* autocast_value16();        // the value of its 16-bit bits
class Float16Emission {
 public:
  explicit Float16Emission(bool on);
  ~Float16Emission();
  Float16Emission(const Float16Emission&) = delete;
  Float16Emission& operator=(const Float16Emission&) = delete;

 private:
  bool previous_;
};

}  // namespace ltgen
