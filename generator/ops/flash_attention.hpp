/// \file
/// The CUDA lowering of the attention ops: FlashAttention-2's tiled loops in float32 on CUDA
/// cores, so that no (batch, heads, T, T) buffer exists. The forward keeps each query row's
/// log-sum-exp of its scores (`lse`); the backward recomputes the probabilities from it.
#pragma once

#include "../op.hpp"

namespace ltgen {

/// The sizes of an attention node with sequence length `t` as constexpr lines: kT, kE, kHeads,
/// kD, kCausal (the CPU's lowering and the kernels).
void write_attention_sizes(CodeWriter& w, const Node& n, std::int64_t t);
/// attention(qkv) -> out, lse (and the CPU's scores scratch, unused here).
void emit_flash_attention_forward(CudaEmit& e, const Node& n, const Graph& g);
/// attention_backward(dout, qkv, out, lse) -> dqkv, delta (and the CPU's scratch, unused here).
void emit_flash_attention_backward(CudaEmit& e, const Node& n, const Graph& g);

}  // namespace ltgen
