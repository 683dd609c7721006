/// \file
/// The CUDA lowering of the attention ops: FlashAttention-2's tiled loops in float32 on CUDA
/// cores, so that no (batch, heads, T, T) buffer exists. The forward keeps each query row's
/// log-sum-exp of its scores (`lse`); the backward recomputes the probabilities from it.
#pragma once

#include <string>
#include <vector>

#include "../op.hpp"

namespace ltgen {

/// The sizes of an attention node with sequence length `t` as constexpr lines: kT, kE, kHeads,
/// kD, kCausal (the CPU's lowering and the kernels).
/// `constexpr float scale = ...;`: 1 / sqrt(head_dim) as torch computes it.
void write_attention_scale(CodeWriter& w, const Node& n);
void write_attention_sizes(CodeWriter& w, const Node& n, std::int64_t t);
/// A tile in a kernel's dynamic shared memory: `rows` x `cols` floats (cols a multiple of 4).
struct SharedTile {
  std::string name, rows, cols, comment;
};
/// The kernel's tiles, one after another in its dynamic shared memory (each 16-byte aligned), as
/// 2-D arrays; `bytes` is what the launch gives (checked at compile time).
void write_shared_tiles(CodeWriter& k, const std::vector<SharedTile>& tiles, std::int64_t bytes);
/// The host lines of an attention's launch: kT, kHeads and (with_scale) scale (1 / sqrt(head_dim),
/// as the CPU).
void write_attention_host_sizes(CodeWriter& w, const Node& n, const Value& qkv, bool with_scale = true);
/// A kernel's place in its one-dimensional grid: `block_tile` (of `row_tile` rows of T), head h and
/// sample b, tiles fastest; and the pointers of sample b's head h (rows 3E apart in `rows_3e`,
/// E apart in `rows_e`, T floats a head in `per_head`: each "const float* name = base").
void write_block_place(CodeWriter& k, const std::string& row_tile);
void write_head_pointers(CodeWriter& k, const std::vector<std::string>& rows_3e, const std::vector<std::string>& rows_e,
                         const std::vector<std::string>& per_head);
/// attention(qkv) -> out, lse (and the CPU's scores scratch, unused here): on tensor cores where
/// mma_attention_applies (flash_attention_mma.cpp), else on CUDA cores.
void emit_flash_attention_forward(CudaEmit& e, const Node& n, const Graph& g);
/// Whether the forward runs on tensor cores: every target GPU has them and head_dim is a multiple
/// of 4 up to 64.
bool mma_attention_applies(const CudaEmit& e, const Node& n);
void emit_flash_attention_forward_mma(CudaEmit& e, const Node& n, const Graph& g);
/// attention_backward(dout, qkv, out, lse) -> dqkv, delta (and the CPU's scratch, unused here):
/// on tensor cores where mma_attention_applies, else on CUDA cores.
void emit_flash_attention_backward(CudaEmit& e, const Node& n, const Graph& g);
/// `<fn>_delta_kernel(delta, dout, out, count)`: delta_i = dout_i . out_i, a thread per (sample,
/// head, query) in delta's order, summed over the head's columns in order (as the CPU's).
void emit_attention_delta_kernel(CudaEmit& e, const Node& n, const Value& qkv);
/// The query rows of a block in torch's CPU flash attention backward for sequence length `t`:
/// bf16-mixed rounds dk and dv after each block's contribution.
int bf16_attention_query_block(std::int64_t t);
/// The keys of a block in torch's CPU flash attention (kv_split_size): the forward rescales its
/// running max and sum from one block to the next, the backward rounds dq after each block.
constexpr int kBf16AttentionKeyBlock = 512;
/// bf16-mixed's attention (multihead_attention.cpp's "bf16" attribute): the CPU program's
/// roundings of torch's CPU flash attention, kernel for kernel (attention_bf16_cuda.cpp; on
/// tensor cores where mma_attention_applies, attention_bf16_mma.cpp).
void emit_attention_bf16_forward_cuda(CudaEmit& e, const Node& n, const Graph& g);
void emit_attention_bf16_backward_cuda(CudaEmit& e, const Node& n, const Graph& g);
/// The tensor-core dK/dV and dQ kernels and their launches (the caller writes delta's).
void emit_flash_attention_backward_mma(CudaEmit& e, const Node& n, const Graph& g);

}  // namespace ltgen
