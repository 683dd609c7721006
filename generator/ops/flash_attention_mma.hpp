/// \file
/// The pieces of the tensor-core attention kernels (flash_attention_mma.cpp in float32,
/// attention_bf16_mma.cpp under mixed precision): a block of 4 warps, each owning 16 rows of a
/// 64-row tile, staging 64-row tiles of q, k, v or dout in shared memory and multiplying them with
/// warp-wide mma.sync m16n8k8 (runtime/include/ltrt/cuda/mma.cuh).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../op.hpp"
#include "flash_attention.hpp"

namespace ltgen {

constexpr int kMmaAttentionWarps = 4;   // a warp per 16 rows of a tile
constexpr int kMmaAttentionTile = 64;   // TUNE: rows of a staged tile (query and key tiles alike)

/// How the operands of an mma go to the tensor cores: float32 values split into two TF32 parts
/// each (3xTF32, about float32's accuracy), or values that TF32 holds exactly (bfloat16 and
/// float16 values: one TF32 mma, exact products; ltrt::cuda::exact_tf32).
enum class MmaOperands { split_3xtf32, exact };

/// Whether the node's head_dim is 4 more than a multiple of 8 (the kernels take head dims that are
/// multiples of 4): the mma's last 8-column step then reads 4 columns of zeros past it.
bool padded_head_dim(const Node& n);

/// The smallest row length of at least `d` floats (rounded up to a multiple of 8) that is
/// `residue` more than a multiple of 32: the fragments' shared reads then meet 32 different banks.
std::int64_t shared_stride(std::int64_t d, std::int64_t residue);

/// Stages rows [row0, row0 + rows) of src (rows `stride` floats apart, kD floats each) into
/// dst[rows][kStride], zeros past `bound` (kTq or kTk): 16-byte loads, adjacent threads along a row.
void write_stage_rows(CodeWriter& k, const std::string& dst, const std::string& src, const std::string& stride,
                      const std::string& row0, const std::string& rows, const std::string& bound);

/// `out` = the warp's 16 rows of tile `a` (rows row0 ... row0 + 15) times the 64 rows of tile `b`,
/// transposed, over head_dim: element x of 8-column step t is row group + 8 (x / 2) and b's row
/// t * 8 + quad + 4 (x % 2) (so that it is an A fragment as it stands). Both tiles' rows are
/// kStride floats, 4 more than a multiple of 32: a's A fragments and b's B fragments are read from
/// 32 different banks.
void write_scores(CodeWriter& k, const std::string& out, const std::string& a, const std::string& b,
                  MmaOperands operands);

/// acc (the warp's 16 rows x head_dim, C fragments) += w (16 x 64 in write_scores' order) times the
/// 64 rows of tile `operand`, over w's 8-column steps [first_step, end_step). The B fragments' reads
/// (4 rows x 8 columns) meet 32 banks when the rows are 8 floats past a multiple of 32 (the
/// forward's v), up to 2 to a bank at 4 (the backward's tiles, which write_scores reads too).
void write_accumulate(CodeWriter& k, const std::string& acc, const std::string& w, const std::string& operand,
                      MmaOperands operands, const std::string& first_step = "0",
                      const std::string& end_step = "kKeySteps");

/// Writes the warp's rows of acc (C fragments) to dst, rows first + row0 + group (+ 8) under
/// `bound` (kTq or kTk), `stride` floats apart (not the columns past a `padded` head_dim).
void write_rows(CodeWriter& k, const std::string& acc, const std::string& dst, const std::string& stride,
                const std::string& first, const std::string& bound, bool padded);

/// `for t, for x` over a warp's score fragments (element x of 8-column step t), and its end.
void open_fragment_loops(CodeWriter& k);
void close_fragment_loops(CodeWriter& k);

/// A dK/dV kernel's query tile from i0: q, dout, lse and delta staged between two barriers.
void write_stage_query_tile(CodeWriter& k);
/// A dQ kernel's rows: i0, its q and dout tiles staged, and lse_i and delta_i of the warp's rows.
void write_dq_block_rows(CodeWriter& k);
/// A backward kernel's key tile from j0: k and v staged between two barriers.
void write_stage_key_tile(CodeWriter& k);
/// `if (condition)` each element x of each 8-column step c of the warp's head_dim fragments runs
/// `lines` (mixed precision's roundings of a block's sums into dk, dv or dq).
void write_rounding_flush(CodeWriter& k, const std::string& condition, const std::vector<std::string>& lines);

/// prepare_kernels() checks the GPU's tensor cores against mma.cuh's layouts before any of these
/// kernels runs (once a process, however many ask). Forwards ask: a backward always comes with
/// its forward, which takes the same path.
void write_prepare_tensor_cores(CudaEmit& e);

/// The top of a backward kernel: its constants (kWarps, kQueryTile, kKeyTile, kDimSteps,
/// kKeySteps, kStride) and shared tiles, its place in the grid (tiles of `row_tile` rows) and the
/// pointers to its head (q, keys_k, keys_v, dout_head, lse_head, delta_head). Its parameters are
/// (grads, dout, queries, keys, lse, delta, scale): `grads` where it writes, dqkv or dkey_value's
/// rows (dK/dV), dqkv or dquery's (dQ).
void open_backward_mma(CodeWriter& k, const Node& n, const AttentionInputs& a, const std::string& name,
                       const std::vector<SharedTile>& tiles, std::int64_t bytes, const std::string& row_tile,
                       const std::string& rows);

/// The top of a dK/dV kernel (open_backward_mma with k, v, q, dout, lse and delta tiles): j0, its
/// block's first key, and the block's k and v staged.
void open_dkdv_mma(CodeWriter& k, const Node& n, const AttentionInputs& a, const std::string& name);
/// The top of a dQ kernel (q, dout, k and v tiles): write_dq_block_rows.
void open_dq_mma(CodeWriter& k, const Node& n, const AttentionInputs& a, const std::string& name);

/// The top of a forward kernel, after its signature: its constants (kWarps, kQueryTile, kKeyTile,
/// kDimSteps, kKeySteps, kKStride, kVStride), the static shared k_tile and v_tile, the warp's place
/// (warp, lane, group, quad), the block's (i0, row0: the warp's first row) and the head's pointers
/// (q, out_head, lse_head, keys_k, keys_v).
void write_forward_mma_top(CodeWriter& k, const Node& n, const AttentionInputs& a);

/// Launches the dK/dV and dQ kernels of the 64-row tiles (e.fn's), allowing them more than 48 KB of
/// shared memory in prepare_kernels() where they need that.
void emit_mma_backward_launches(CudaEmit& e, const Node& n, const AttentionInputs& a);

/// Mixed precision's attention (attention_bf16_cuda.cpp's arithmetic) on tensor cores: every
/// operand of its products is a bfloat16 (or float16) value, so one TF32 mma each is exact.
void emit_attention_bf16_forward_mma(CudaEmit& e, const Node& n, const Graph& g);
void emit_attention_bf16_backward_mma(CudaEmit& e, const Node& n, const Graph& g);

}  // namespace ltgen
