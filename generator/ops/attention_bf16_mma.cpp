/// \file
/// Mixed precision's attention on tensor cores: attention_bf16_cuda.cpp's arithmetic (torch's CPU
/// flash attention on bfloat16 or float16 q, k, v: blocks of 512 keys, each with its own max; p
/// rounded before its product with v; dq rounded after each block of keys, dk and dv after each
/// block of query rows) with the products of 64-row tiles on TF32 mma.sync, as
/// flash_attention_mma.cpp's float32 kernels. Every operand of those products (q, k, v, dout and
/// the rounded p and ds) is a bfloat16 or float16 value, which TF32 holds exactly, so one mma
/// gives the exact products summed in float32 where float32 operands need three (3xTF32). What
/// differs from the per-row kernels and the CPU's is the order of the float32 sums (and a tensor
/// core's own summation of its 8 products), and that a masked score's p = 0 still multiplies v
/// (and ds = 0 dout or q): where v or dout holds an infinity (a 16-mixed step that overflowed and
/// will be skipped), a NaN where the per-row kernels keep the infinity.
#include <string>

#include "../autocast.hpp"
#include "../cuda_lowering.hpp"
#include "flash_attention.hpp"
#include "flash_attention_mma.hpp"

namespace ltgen {

namespace {

// For each of the warp's two rows (group, group + 8), `var[r]` op= the value of the 4 lanes of
// the row's quad (two shuffles).
void write_quad_reduce(CodeWriter& k, const std::string& var, const std::string& combine) {
  k.line("#pragma unroll");
  k.open("for (int r = 0; r < 2; ++r)");
  k.line("for (int lanes = 1; lanes < 4; lanes *= 2) " + var + "[r] = " +
         (combine == "max" ? "fmaxf(" + var + "[r], __shfl_xor_sync(0xffffffffu, " + var + "[r], lanes));"
                           : var + "[r] + __shfl_xor_sync(0xffffffffu, " + var + "[r], lanes);"));
  k.close();
}

}  // namespace

void emit_attention_bf16_forward_mma(CudaEmit& e, const Node& n, const Graph& g) {
  const AttentionInputs a = attention_inputs(n, g);
  const std::string round = autocast_round();
  CodeWriter& k = e.kernels;
  k.line();
  k.line(std::string("// ") + autocast_precision() +
         " attention on tensor cores (the CPU's emit_forward_bf16, as the per-row kernel of");
  k.line("// attention_bf16_cuda.cpp): a block of 4 warps per (64 query rows, head, sample), warp w owning rows");
  k.line("// 16w ... 16w + 15. Per block of kKeyBlock keys (torch's), a first walk over its key tiles finds each");
  k.line("// row's max of the scaled scores (from the running max), a second recomputes the scores and takes");
  k.line("// e = exp(s - max) by torch's fexp_u20 on the block's first columns in whole vectors of the CPU");
  k.line(std::string("// build (exp_width) and expf on the rest; the sum adds e unrounded, p v takes e rounded to ") +
         autocast_dtype_name() + ".");
  k.line("// A later block rescales the sum and o by exp(old max - new max). out = round(o / sum), lse = max +");
  k.line("// log(sum). q k^T and p v are one TF32 mma.sync each: q, k, v and the rounded p are exact in TF32.");
  k.open("__global__ void __launch_bounds__(" + std::to_string(kMmaAttentionWarps * 32) + ") " + e.fn +
         "_kernel(float* __restrict__ out, float* __restrict__ lse, const float* __restrict__ queries, "
         "const float* __restrict__ keys, float scale, "
         "int exp_width)");
  write_forward_mma_top(k, n, a);
  k.line("constexpr int kKeyBlock = " + std::to_string(kBf16AttentionKeyBlock) + ";  // torch's keys per block");
  k.line("static_assert(kKeyBlock % kKeyTile == 0, \"a key tile lies in one block\");");
  k.line("// The warp's rows of q as A fragments (zeros past T).");
  k.line("std::uint32_t q_bits[kDimSteps][4];");
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kDimSteps; ++c)");
  k.line("#pragma unroll");
  k.open("for (int x = 0; x < 4; ++x)");
  k.line("const ltrt::cuda::MmaPosition at = ltrt::cuda::mma_a_position(lane, x);");
  k.line("const int i = row0 + at.row;");
  k.line(std::string("q_bits[c][x] = ltrt::cuda::exact_tf32(i < kTq") + (padded_head_dim(n) ? " && 8 * c + at.col < kD" : "") +
         " ? q[static_cast<std::int64_t>(i) * kQRow + 8 * c + at.col] : 0.0f);");
  k.close();
  k.close();
  k.line("// s = q k^T over the staged key tile, unscaled: element x of 8-key step t is row group + 8 (x / 2),");
  k.line("// key t * 8 + quad + 4 (x % 2) of the tile (so that s is p v's A fragment as it stands).");
  k.open("auto tile_scores = [&](float (&s)[kKeySteps][4])");
  k.line("#pragma unroll");
  k.open("for (int t = 0; t < kKeySteps; ++t)");
  k.line("const int key = t * 8 + group / 2 + 4 * (group % 2);  // the key of the lane's B column");
  k.line("s[t][0] = s[t][1] = s[t][2] = s[t][3] = 0.0f;");
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kDimSteps; ++c)");
  k.line("std::uint32_t k_bits[2];");
  k.line("for (int x = 0; x < 2; ++x) k_bits[x] = ltrt::cuda::exact_tf32(k_tile[key][8 * c + quad + 4 * x]);");
  k.line("ltrt::cuda::mma_exact_16x8x8(s[t], q_bits[c], k_bits);");
  k.close();
  k.close();
  k.close(";");
  k.line("// Whether row group + 8 (x / 2) sees key t * 8 + quad + 4 (x % 2) of the tile from j0.");
  k.open("auto sees = [&](int j0, int t, int x)");
  k.line("const int i = row0 + group + 8 * (x / 2), j = j0 + t * 8 + quad + 4 * (x % 2);");
  k.line("return j < kTk && (!kCausal || j <= i);");
  k.close(";");
  k.line("// o's C fragments (rows group and group + 8, columns 2 quad and 2 quad + 1 of each 8), and the");
  k.line("// running max m and sum l of rows group (0) and group + 8 (1).");
  k.line("float o[kDimSteps][4] = {};");
  k.line("float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};");
  k.line("const int key_end = kCausal ? (i0 + kQueryTile < kTk ? i0 + kQueryTile : kTk) : kTk;  // key tiles past the diagonal: all masked");
  k.line("// Every row of the tile sees each block's first key (blocks start at multiples of 512, i0 of 64).");
  k.open("for (int n0 = 0; n0 < key_end; n0 += kKeyBlock)");
  k.line("const int block_end = n0 + kKeyBlock < key_end ? n0 + kKeyBlock : key_end;");
  k.line("const int width = kTk - n0 < kKeyBlock ? kTk - n0 : kKeyBlock;");
  k.line("const int fast_columns = width / exp_width * exp_width;  // the CPU's whole vectors of the block");
  k.line("float block_max[2] = {m[0], m[1]};");
  k.open("for (int j0 = n0; j0 < block_end; j0 += kKeyTile)");
  k.line("__syncthreads();  // every warp is done with the last tile");
  write_stage_rows(k, "k_tile", "keys_k", "kKVRow", "j0", "kKeyTile", "kTk");
  k.line("__syncthreads();");
  k.line("float s[kKeySteps][4];");
  k.line("tile_scores(s);");
  open_fragment_loops(k);
  k.line("if (sees(j0, t, x)) block_max[x / 2] = fmaxf(block_max[x / 2], s[t][x] * scale);");
  close_fragment_loops(k);
  k.close();
  write_quad_reduce(k, "block_max", "max");
  k.line("float block_sum[2] = {0.0f, 0.0f};");
  k.line("float part[kDimSteps][4] = {};  // the block's p v");
  k.open("for (int j0 = n0; j0 < block_end; j0 += kKeyTile)");
  k.line("__syncthreads();");
  write_stage_rows(k, "k_tile", "keys_k", "kKVRow", "j0", "kKeyTile", "kTk");
  write_stage_rows(k, "v_tile", "keys_v", "kKVRow", "j0", "kKeyTile", "kTk");
  k.line("__syncthreads();");
  k.line("float s[kKeySteps][4];");
  k.line("tile_scores(s);");
  open_fragment_loops(k);
  k.line("const float shifted = s[t][x] * scale - block_max[x / 2];");
  k.line("const int column = j0 - n0 + t * 8 + quad + 4 * (x % 2);  // in the block");
  k.line("const float e = !sees(j0, t, x) ? 0.0f : column < fast_columns ? ltrt::fexp_u20(shifted) : expf(shifted);");
  k.line("block_sum[x / 2] += e;");
  k.line("s[t][x] = " + round + "(e);  // p, for the product with v");
  close_fragment_loops(k);
  k.line("// part += p v: p, in s, is the A fragment as it stands; v's rows the B fragment.");
  write_accumulate(k, "part", "s", "v_tile", MmaOperands::exact);
  k.close();
  write_quad_reduce(k, "block_sum", "sum");
  k.line("#pragma unroll");
  k.open("for (int r = 0; r < 2; ++r)");
  k.line("const float rescale = n0 == 0 ? 0.0f : expf(m[r] - block_max[r]);  // (unused on the first block)");
  k.line("l[r] = n0 == 0 ? block_sum[r] : block_sum[r] + rescale * l[r];");
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kDimSteps; ++c)");
  k.line("o[c][2 * r] = n0 == 0 ? part[c][2 * r] : o[c][2 * r] * rescale + part[c][2 * r];");
  k.line("o[c][2 * r + 1] = n0 == 0 ? part[c][2 * r + 1] : o[c][2 * r + 1] * rescale + part[c][2 * r + 1];");
  k.close();
  k.line("m[r] = block_max[r];");
  k.close();
  k.close();
  k.line("// out = round(o / sum) (times the inverse, as the CPU) and lse, rows under T.");
  k.line("#pragma unroll");
  k.open("for (int r = 0; r < 2; ++r)");
  k.line("const int i = row0 + group + 8 * r;");
  k.line("if (i >= kTq) continue;");
  k.line("const float inverse_sum = 1.0f / l[r];");
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kDimSteps; ++c)");
  if (padded_head_dim(n)) k.line("if (8 * c + 2 * quad >= kD) continue;  // the padding's columns");
  k.line("*reinterpret_cast<float2*>(out_head + static_cast<std::int64_t>(i) * kE + 8 * c + 2 * quad) =");
  k.line("    make_float2(" + round + "(o[c][2 * r] * inverse_sum), " + round + "(o[c][2 * r + 1] * inverse_sum));");
  k.close();
  k.line("if (quad == 0) lse_head[i] = m[r] + logf(l[r]);  // the backward's p_ij = exp(s_ij - lse_i)");
  k.close();
  k.close();

  write_prepare_tensor_cores(e);
  write_attention_host_sizes(e.body, n, a, false);
  e.body.line("// scores is the CPU program's T x T buffer: this kernel needs none.");
  e.body.line("const int exp_width = exp_vector_width();  // model.cpp's fexp_u20 vectors");
  emit_launch(e.body, e.fn + "_kernel", "(kTq + 63) / 64 * kHeads * n", std::to_string(kMmaAttentionWarps * 32),
              {"out", "lse", a.queries(), a.keys(), "scale", "exp_width"});
}

void emit_attention_bf16_backward_mma(CudaEmit& e, const Node& n, const Graph& g) {
  const AttentionInputs a = attention_inputs(n, g);
  const std::string round = autocast_round();
  CodeWriter& k = e.kernels;
  emit_attention_delta_kernel(e, n, a.tq);

  k.line();
  k.line("// dk_j and dv_j on tensor cores (the CPU's emit_backward_bf16, as the per-row kernel): a block of 4");
  k.line("// warps per (64 key rows, head, sample), warp w owning keys 16w ... 16w + 15, walks the query tiles");
  k.line("// that see its keys and recomputes p_ij = exp(s_ij - lse_i) and ds_ij = round(p_ij (dp_ij - delta_i)).");
  k.line("// Per block of kQBlock query rows (torch's), sum_i round(p_ij) dout_i and sum_i ds_ij q_i / sqrt(D)");
  k.line(std::string("// are added to dv_j and dk_j, which are rounded to ") + autocast_dtype_name() +
         " after each block. The products are one");
  k.line("// TF32 mma.sync each (every operand exact in TF32); each element has one writer: no atomics.");
  open_dkdv_mma(k, n, a, e.fn + "_dkdv_kernel");
  k.line("constexpr int kQBlock = " + std::to_string(bf16_attention_query_block(a.tq)) +
         ";  // torch's query rows per block for this T");
  k.line("constexpr int kFlushSteps = (kQBlock < kQueryTile ? kQBlock : kQueryTile) / 8;  // 8-query steps between roundings");
  k.line("static_assert(kQBlock % kQueryTile == 0 || kQueryTile % kQBlock == 0, \"blocks and tiles nest\");");
  k.line("float dk[kDimSteps][4] = {}, dv[kDimSteps][4] = {};          // rounded after each query block");
  k.line("float part_k[kDimSteps][4] = {}, part_v[kDimSteps][4] = {};  // the block's sums so far");
  k.line("// Query tiles before the block's first key see none of its keys (their blocks add nothing).");
  k.line("const int first = kCausal ? j0 / kQueryTile * kQueryTile : 0;");
  k.open("for (int i0 = first; i0 < kTq; i0 += kQueryTile)");
  write_stage_query_tile(k);
  k.line("// s^T and dp^T: element x of step t is key row group + 8 (x / 2), query t * 8 + quad + 4 (x % 2).");
  write_scores(k, "s", "k_tile", "q_tile", MmaOperands::exact);
  write_scores(k, "dp", "v_tile", "dout_tile", MmaOperands::exact);
  k.line("// round(p)^T into s and ds^T into dp (0 where masked or past the rows).");
  open_fragment_loops(k);
  k.line("const int j = j0 + row0 + group + 8 * (x / 2), at = t * 8 + quad + 4 * (x % 2), i = i0 + at;");
  k.line("const float p = i < kTq && (!kCausal || j <= i) ? ltrt::exp_vec(scale * s[t][x] - lse_tile[0][at]) : 0.0f;");
  k.line("dp[t][x] = " + round + "(p * (dp[t][x] - delta_tile[0][at]));");
  k.line("s[t][x] = " + round + "(p);");
  close_fragment_loops(k);
  k.line("// part_v += round(p)^T dout, part_k += ds^T q, a query block at a time; dv and dk take each");
  k.line("// block's sum (or the last, partial one's) and are rounded.");
  k.line("#pragma unroll");
  k.open("for (int f = 0; f < kKeySteps; f += kFlushSteps)");
  write_accumulate(k, "part_v", "s", "dout_tile", MmaOperands::exact, "f", "f + kFlushSteps");
  write_accumulate(k, "part_k", "dp", "q_tile", MmaOperands::exact, "f", "f + kFlushSteps");
  k.line("const int end = i0 + 8 * (f + kFlushSteps);");
  write_rounding_flush(k, "end % kQBlock == 0 || end >= kTq",
                       {"dv[c][x] = " + round + "(dv[c][x] + part_v[c][x]);",
                        "dk[c][x] = " + round + "(dk[c][x] + scale * part_k[c][x]);",
                        "part_v[c][x] = part_k[c][x] = 0.0f;"});
  k.close();
  k.close();
  write_rows(k, "dk", "dk_head", "kKVRow", "j0", "kTk", padded_head_dim(n));
  write_rows(k, "dv", "dv_head", "kKVRow", "j0", "kTk", padded_head_dim(n));
  k.close();

  k.line();
  k.line("// dq_i = sum_j ds_ij k_j / sqrt(D) on tensor cores: a block of 4 warps per (64 query rows, head,");
  k.line("// sample) walks the key tiles its rows see, recomputing ds as the dk/dv kernel does; dq is rounded");
  k.line("// after each block of kKeyBlock keys (torch's), as the CPU's.");
  open_dq_mma(k, n, a, e.fn + "_dq_kernel");
  k.line("constexpr int kKeyBlock = " + std::to_string(kBf16AttentionKeyBlock) + ";  // torch's keys per block");
  k.line("static_assert(kKeyBlock % kKeyTile == 0, \"a key tile lies in one block\");");
  k.line("float dq[kDimSteps][4] = {};    // rounded after each key block");
  k.line("float part[kDimSteps][4] = {};  // the block's sum so far");
  k.line("const int key_end = kCausal ? (i0 + kQueryTile < kTk ? i0 + kQueryTile : kTk) : kTk;  // key tiles past the diagonal: all masked");
  k.open("for (int j0 = 0; j0 < key_end; j0 += kKeyTile)");
  write_stage_key_tile(k);
  k.line("// s and dp: element x of step t is row group + 8 (x / 2), key t * 8 + quad + 4 (x % 2).");
  write_scores(k, "s", "q_tile", "k_tile", MmaOperands::exact);
  write_scores(k, "dp", "dout_tile", "v_tile", MmaOperands::exact);
  k.line("// ds into s (0 where masked or past the rows).");
  open_fragment_loops(k);
  k.line("const int i = i0 + row0 + group + 8 * (x / 2), j = j0 + t * 8 + quad + 4 * (x % 2);");
  k.line("const float p = j < kTk && (!kCausal || j <= i) ? ltrt::exp_vec(scale * s[t][x] - lse_i[x / 2]) : 0.0f;");
  k.line("s[t][x] = " + round + "(p * (dp[t][x] - delta_i[x / 2]));");
  close_fragment_loops(k);
  k.line("// part += ds k; at a block's end (or the last key), dq takes the block's sum and is rounded.");
  write_accumulate(k, "part", "s", "k_tile", MmaOperands::exact);
  write_rounding_flush(k, "(j0 + kKeyTile) % kKeyBlock == 0 || j0 + kKeyTile >= key_end",
                       {"dq[c][x] = " + round + "(dq[c][x] + scale * part[c][x]);", "part[c][x] = 0.0f;"});
  k.close();
  write_rows(k, "dq", "dq_head", "kQRow", "i0", "kTq", padded_head_dim(n));
  k.close();

  write_attention_host_sizes(e.body, n, a, true);
  e.body.line("// scratch is the CPU program's T x T buffers: these kernels need none.");
  emit_count_launch(e.body, e.fn + "_delta_kernel", "n * kHeads * kTq", {"delta", "dout", "out"});
  emit_mma_backward_launches(e, n, a);
}

}  // namespace ltgen
