/// \file
/// The CUDA lowering of the attention ops: FlashAttention-2's tiled loops in float32 on CUDA
/// cores, so that no (batch, heads, T, T) buffer exists. The forward keeps each query row's
/// log-sum-exp of its scores (`lse`); the backward recomputes the probabilities from it.
#pragma once

#include <string>
#include <vector>

#include "../op.hpp"

namespace ltgen {

/// What an attention node (or its backward) reads: self-attention's q | k | v rows of one tensor
/// (qkv, T rows a sample), or cross-attention's q rows of one (query: Tq rows a sample, E floats
/// each) and k | v rows of another (key_value: Tk rows, 2E floats each).
struct AttentionInputs {
  bool cross = false;
  std::int64_t tq = 0, tk = 0;
  /// The tensors' names in the generated function: "qkv" twice, or "query" and "key_value".
  std::string queries() const { return cross ? "query" : "qkv"; }
  std::string keys() const { return cross ? "key_value" : "qkv"; }
};
AttentionInputs attention_inputs(const Node& n, const Graph& g);
/// The backward's gradients of the queries' and the keys' tensors: "dqkv" twice, or "dquery" and
/// "dkey_value".
inline std::string attention_query_grads(const AttentionInputs& a) { return a.cross ? "dquery" : "dqkv"; }
inline std::string attention_key_grads(const AttentionInputs& a) { return a.cross ? "dkey_value" : "dqkv"; }

/// The sizes of an attention node as constexpr lines: kTq and kTk (query and key rows a sample),
/// kE, kHeads, kD, kQRow and kKVRow (floats from one row of q, and of k and v, to the next),
/// kKeyColumn (where k starts in its row; v is kE after it) and kCausal.
void write_attention_sizes(CodeWriter& w, const Node& n, const AttentionInputs& a);
/// The same with one sequence length kT and no row constants, for the kernels that serve
/// self-attention only (mixed precision's per-row kernels and CPU loops).
void write_attention_sizes(CodeWriter& w, const Node& n, std::int64_t t);
/// Attention dropout (a node with "dropout"): kDropP, kDropScale (1 / (1 - p)) and kDropStream,
/// the layer's own stream of counter-based numbers.
void write_attention_dropout_constants(CodeWriter& w, const Node& n);
/// `value` where the GPU's attention dropout keeps probability (b, h, i, j), times kDropScale, else
/// 0: torch's dropout(p) of the probabilities, with ltgen's own masks (the CPU's are torch's, or
/// these under LTGEN_DROPOUT_MASKS=counter). It is kept when counter_uniform(seed,
/// kDropStream, its index in (batch, heads, Tq, Tk)) >= kDropP, so the backward draws the same
/// masks again from the step's seed (b, h, kHeads, kTq, kTk and seed in scope).
std::string attention_dropped(const std::string& value, const std::string& i, const std::string& j);
/// A CUDA kernel's parameters and launch arguments for attention dropout: the step's scalars (its
/// dropout_seed), and in the forward `training`; empty without dropout.
std::string attention_dropout_params(const Node& n, bool forward);
std::vector<std::string> attention_dropout_args(const Node& n, bool forward);
/// A CUDA kernel's `seed` line (with dropout): the step's, in the forward 0 in evaluation.
void write_attention_dropout_seed(CodeWriter& k, const Node& n, bool forward);
/// A key padding mask (a node with "key_padding_mask"; ops/key_padding_mask.cpp): a kernel's
/// parameter `mask` (the additive (batch, kTk) floats; empty without one), its launch argument,
/// and `key_mask`, sample b's row.
std::string attention_mask_param(const Node& n);
void add_attention_mask_arg(const Node& n, std::vector<std::string>& args);
void write_attention_mask_pointer(CodeWriter& k, const Node& n);
/// The masked score of key `j` from its scaled score: `scaled + key_mask[j]`, or `scaled` alone.
std::string attention_masked_score(const Node& n, const std::string& scaled, const std::string& j);
/// `constexpr float scale = ...;`: 1 / sqrt(head_dim) as torch computes it.
void write_attention_scale(CodeWriter& w, const Node& n);
/// A tile in a kernel's dynamic shared memory: `rows` x `cols` floats (cols a multiple of 4).
struct SharedTile {
  std::string name, rows, cols, comment;
};
/// The kernel's tiles, one after another in its dynamic shared memory (each 16-byte aligned), as
/// 2-D arrays; `bytes` is what the launch gives (checked at compile time).
void write_shared_tiles(CodeWriter& k, const std::vector<SharedTile>& tiles, std::int64_t bytes);
/// The host lines of an attention's launch: kT, kHeads and (with_scale) scale (1 / sqrt(head_dim),
/// as the CPU), for the self-attention-only kernels; with AttentionInputs, kTq (and, for launches
/// over the keys' tiles, kTk) and scale.
void write_attention_host_sizes(CodeWriter& w, const Node& n, const Value& qkv, bool with_scale = true);
void write_attention_host_sizes(CodeWriter& w, const Node& n, const AttentionInputs& a, bool key_rows);
/// A kernel's place in its one-dimensional grid: `block_tile` (of `row_tile` rows of the block's
/// side, `rows` of them a sample: kT, kTq or kTk), head h and sample b, tiles fastest.
void write_block_place(CodeWriter& k, const std::string& row_tile, const std::string& rows = "kT");
/// The pointers of sample b's head h in a kernel with parameters `queries` and `keys`
/// (write_attention_sizes' layout): q, keys_k and keys_v; then those in `rows_e` (E floats a row,
/// kTq rows a sample: out, dout) and `per_query` (kTq floats a head: lse, delta), each
/// "const float* name = base".
void write_head_pointers(CodeWriter& k, const std::vector<std::string>& rows_e, const std::vector<std::string>& per_query);
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
/// head, query) in delta's order, summed over the head's columns in order (as the CPU's); `tq`
/// query rows a sample.
void emit_attention_delta_kernel(CudaEmit& e, const Node& n, std::int64_t tq);
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
