/// \file
/// bf16-mixed's attention on the GPU: the CPU program's arithmetic (multihead_attention.cpp's
/// emit_forward_bf16 and emit_backward_bf16, torch's CPU flash attention on bfloat16 q, k, v),
/// rounding where it rounds, so that the two devices train alike. Each kernel gives a thread one
/// row of a head and recomputes the scores it needs (no T x T buffer); that keeps every sum the
/// CPU's sum in its order where the CPU loops, at the cost of speed. Where the tensor-core
/// attention applies (mma_attention_applies), attention_bf16_mma.cpp's tiled kernels take its
/// place with the same roundings; these serve the other head dims and targets.
#include <string>
#include <vector>

#include "../cuda_lowering.hpp"
#include "../autocast.hpp"
#include "flash_attention.hpp"
#include "flash_attention_mma.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

// The sizes, scale and this thread's place: query or key row `t` of head h of sample b, from the
// thread's index i in (sample, head, row) order (lse's and delta's); q, k, v of row j are
// `queries + j * 3 * kE`, `keys + ...`, `values + ...`.
void write_row_place(CodeWriter& k, const Node& n, const Value& qkv) {
  write_attention_sizes(k, n, qkv.shape[1]);
  write_attention_scale(k, n);
  k.line("const int b = i / (kHeads * kT), h = i / kT % kHeads, t = i % kT;");
  k.line("const float* queries = qkv + static_cast<std::int64_t>(b) * kT * 3 * kE + h * kD;  // rows 3E apart");
  k.line("const float* keys = queries + kE;");
  k.line("const float* values = queries + 2 * kE;");
}

// `var` = the dot product of two head rows, summed over d in order.
void write_dot(CodeWriter& k, const std::string& var, const std::string& a, const std::string& b) {
  k.line("float " + var + " = 0.0f;");
  k.line("for (int d = 0; d < kD; ++d) " + var + " += " + a + "[d] * " + b + "[d];");
}

// p_ij = exp(s_ij - lse_i) from the recomputed score, and ds_ij = p_ij (dp_ij - delta_i), both
// rounded to bfloat16 as the CPU's backward rounds them (pij_bf16, ds).
void write_backward_terms(CodeWriter& k, const std::string& i, const std::string& j) {
  k.line("const float* q_i = queries + " + i + " * 3 * kE;");
  k.line("const float* k_j = keys + " + j + " * 3 * kE;");
  k.line("const float* v_j = values + " + j + " * 3 * kE;");
  k.line("const float* dout_i = dout_head + " + i + " * kE;");
  write_dot(k, "qk", "q_i", "k_j");
  write_dot(k, "dp", "dout_i", "v_j");
  k.line("const float p = ltrt::exp_vec(scale * qk - lse_head[" + i + "]);");
  k.line("const float ds = " + autocast_round() + "(p * (dp - delta_head[" + i + "]));");
}

}  // namespace

void emit_attention_bf16_forward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  if (mma_attention_applies(e, n)) return emit_attention_bf16_forward_mma(e, n, g);
  const Value& qkv = g.value(n.inputs[0]);
  CodeWriter& k = e.kernels;
  k.line();
  k.line(std::string("// ") + autocast_precision() +
         " attention (the CPU's emit_forward_bf16): a thread per (sample, head, query row). Per");
  k.line("// block of kKeyBlock keys: the scaled scores' running max, then e_j = exp(s_j - max) by torch's");
  k.line("// fexp_u20 over the block's first columns in whole vectors of the CPU build (exp_width) and expf");
  k.line(std::string("// on the rest, rounded to ") + autocast_dtype_name() +
         " for the product with v while the sum adds them unrounded; a later");
  k.line("// block rescales the sum and output by exp(old max - new max). out = round(o / sum), lse = max + log(sum).");
  open_element_kernel(k, e.fn + "_kernel",
                      {"float* __restrict__ out", "float* __restrict__ lse", "const float* __restrict__ qkv",
                       "int exp_width"},
                      [](CodeWriter&) {});
  write_row_place(k, n, qkv);
  k.line("constexpr int kKeyBlock = " + std::to_string(kBf16AttentionKeyBlock) + ";  // torch's keys per block");
  k.line("const float* q = queries + t * 3 * kE;");
  k.line("const int visible = kCausal ? t + 1 : kT;");
  k.line("float max = -INFINITY, sum = 0.0f;");
  k.line("float o[kD];");
  k.open("for (int n0 = 0; n0 < visible; n0 += kKeyBlock)");
  k.line("const int width = kT - n0 < kKeyBlock ? kT - n0 : kKeyBlock;");
  k.line("const int fast_columns = width / exp_width * exp_width;");
  k.line("const int end = n0 + width < visible ? n0 + width : visible;");
  k.line("float block_max = max;");
  k.open("for (int j = n0; j < end; ++j)");
  k.line("const float* k_j = keys + j * 3 * kE;");
  write_dot(k, "qk", "q", "k_j");
  k.line("block_max = fmaxf(block_max, qk * scale);");
  k.close();
  k.line("float block_sum = 0.0f;");
  k.line("float part[kD] = {};");
  k.open("for (int j = n0; j < end; ++j)");
  k.line("const float* k_j = keys + j * 3 * kE;");
  write_dot(k, "qk", "q", "k_j");
  k.line("const float s = qk * scale - block_max;");
  k.line("const float e = j - n0 < fast_columns ? ltrt::fexp_u20(s) : expf(s);");
  k.line("block_sum += e;");
  k.line("const float p = " + autocast_round() + "(e);");
  k.line("for (int d = 0; d < kD; ++d) part[d] += p * values[j * 3 * kE + d];");
  k.close();
  k.open("if (n0 == 0)");
  k.line("sum = block_sum;");
  k.line("for (int d = 0; d < kD; ++d) o[d] = part[d];");
  k.close();
  k.open("else");
  k.line("const float rescale = expf(max - block_max);");
  k.line("sum = block_sum + rescale * sum;");
  k.line("for (int d = 0; d < kD; ++d) o[d] = o[d] * rescale + part[d];");
  k.close();
  k.line("max = block_max;");
  k.close();
  k.line("lse[i] = max + logf(sum);  // the backward's p_ij = exp(s_ij - lse_i)");
  k.line("const float inverse_sum = 1.0f / sum;");
  k.line("float* out_row = out + (static_cast<std::int64_t>(b) * kT + t) * kE + h * kD;");
  k.line("for (int d = 0; d < kD; ++d) out_row[d] = " + autocast_round() + "(o[d] * inverse_sum);");
  k.close();

  write_attention_host_sizes(e.body, n, qkv, false);  // (the kernels compute their own scale)
  e.body.line("// scores is the CPU program's T x T buffer: this kernel needs none.");
  e.body.line("const int exp_width = exp_vector_width();  // model.cpp's fexp_u20 vectors");
  emit_count_launch(e.body, e.fn + "_kernel", "n * kHeads * kT", {"out", "lse", "qkv", "exp_width"});
}

void emit_attention_bf16_backward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  if (mma_attention_applies(e, n)) return emit_attention_bf16_backward_mma(e, n, g);
  const Value& qkv = g.value(n.inputs[1]);
  CodeWriter& k = e.kernels;
  emit_attention_delta_kernel(e, n, qkv.shape[1]);
  const std::vector<std::string> params = {"float* __restrict__ dqkv", "const float* __restrict__ dout",
                                           "const float* __restrict__ qkv", "const float* __restrict__ lse",
                                           "const float* __restrict__ delta"};
  auto head_rows = [&](CodeWriter& c) {
    c.line("const float* dout_head = dout + static_cast<std::int64_t>(b) * kT * kE + h * kD;  // rows E apart");
    c.line("const float* lse_head = lse + (b * kHeads + h) * kT;");
    c.line("const float* delta_head = delta + (b * kHeads + h) * kT;");
    c.line("float* dq_head = dqkv + static_cast<std::int64_t>(b) * kT * 3 * kE + h * kD;  // rows 3E apart");
  };

  k.line();
  k.line("// dk_j and dv_j (the CPU's emit_backward_bf16): a thread per (sample, head, key row j). Per block of");
  k.line("// kQBlock query rows, its contributions sum_i round(p_ij) dout_i and sum_i ds_ij q_i / sqrt(D) are");
  k.line(std::string("// added to dv_j and dk_j, rounded to ") + autocast_dtype_name() + " after each block, as torch's " +
         autocast_dtype_name() + " dk and dv.");
  open_element_kernel(k, e.fn + "_dkdv_kernel", params, [](CodeWriter&) {});
  write_row_place(k, n, qkv);
  head_rows(k);
  k.line("constexpr int kQBlock = " + std::to_string(bf16_attention_query_block(qkv.shape[1])) +
         ";  // torch's query rows per block for this T");
  k.line("float dk[kD] = {}, dv[kD] = {};");
  k.open("for (int r0 = 0; r0 < kT; r0 += kQBlock)");
  k.line("float part_k[kD] = {}, part_v[kD] = {};");
  k.line("const int end = r0 + kQBlock < kT ? r0 + kQBlock : kT;");
  k.line("// (causal: the rows before t do not see key t)");
  k.open("for (int r = kCausal && t > r0 ? t : r0; r < end; ++r)");
  write_backward_terms(k, "r", "t");
  k.line("const float p_bf16 = " + autocast_round() + "(p);");
  k.open("for (int d = 0; d < kD; ++d)");
  k.line("part_v[d] += p_bf16 * dout_i[d];");
  k.line("part_k[d] += ds * q_i[d];");
  k.close();
  k.close();
  k.open("for (int d = 0; d < kD; ++d)");
  k.line("dv[d] = " + autocast_round() + "(dv[d] + part_v[d]);");
  k.line("dk[d] = " + autocast_round() + "(dk[d] + scale * part_k[d]);");
  k.close();
  k.close();
  k.open("for (int d = 0; d < kD; ++d)");
  k.line("dq_head[t * 3 * kE + kE + d] = dk[d];");
  k.line("dq_head[t * 3 * kE + 2 * kE + d] = dv[d];");
  k.close();
  k.close();

  k.line();
  k.line("// dq_i = sum_j ds_ij k_j / sqrt(D): a thread per (sample, head, query row i), rounded after each");
  k.line("// block of kKeyBlock keys as the CPU's.");
  open_element_kernel(k, e.fn + "_dq_kernel", params, [](CodeWriter&) {});
  write_row_place(k, n, qkv);
  head_rows(k);
  k.line("constexpr int kKeyBlock = " + std::to_string(kBf16AttentionKeyBlock) + ";  // torch's keys per block");
  k.line("const int visible = kCausal ? t + 1 : kT;");
  k.line("float dq[kD] = {};");
  k.open("for (int n0 = 0; n0 < visible; n0 += kKeyBlock)");
  k.line("float part[kD] = {};");
  k.open("for (int j = n0; j < (n0 + kKeyBlock < visible ? n0 + kKeyBlock : visible); ++j)");
  write_backward_terms(k, "t", "j");
  k.line("for (int d = 0; d < kD; ++d) part[d] += ds * k_j[d];");
  k.close();
  k.line("for (int d = 0; d < kD; ++d) dq[d] = " + autocast_round() + "(dq[d] + scale * part[d]);");
  k.close();
  k.line("for (int d = 0; d < kD; ++d) dq_head[t * 3 * kE + d] = dq[d];");
  k.close();

  write_attention_host_sizes(e.body, n, qkv, false);  // (the kernels compute their own scale)
  e.body.line("// scratch is the CPU program's T x T buffers: these kernels need none.");
  e.body.line("const int rows = n * kHeads * kT;  // a thread per (sample, head, row) in each kernel");
  for (const char* kernel : {"_delta_kernel", "_dkdv_kernel", "_dq_kernel"}) {
    const bool delta = std::string(kernel) == "_delta_kernel";
    std::vector<std::string> args = delta ? std::vector<std::string>{"delta", "dout", "out"}
                                          : std::vector<std::string>{"dqkv", "dout", "qkv", "lse", "delta"};
    args.push_back("rows");
    emit_launch(e.body, e.fn + kernel, "ltrt::cuda::blocks_for(rows, kThreads)", "kThreads", args);
  }
}

}  // namespace ltgen
