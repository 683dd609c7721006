/// \file
/// MultiheadAttention as torch.nn.MultiheadAttention(embed_dim, num_heads, bias,
/// batch_first=True) called with need_weights=False: as self-attention, query = key = value = the
/// input x (batch, T, E), and for `is_causal: true` attn_mask =
/// nn.Transformer.generate_square_subsequent_mask(T); as cross-attention (a graph node with two
/// inputs), query = the first (batch, Tq, E), key = value = the second (batch, Tk, E). Three nodes:
///   qkv = x @ in_proj_weight^T + in_proj_bias        (a Linear, E -> 3E: q | k | v; cross-attention's
///         q and k | v come from attention_in_projection.cpp, and Tq x Tk replaces T x T below)
///   att = attention(qkv)                              (per head h, D = E / num_heads:
///         p[i, :] = softmax(q_i . k_j / sqrt(D), j <= i when causal); att_i = sum_j p[i, j] v_j)
///   out = att @ out_proj.weight^T + out_proj.bias    (a Linear, E -> E)
/// The attention op keeps, per query row, lse_i = log sum_j exp(s_ij) of its scaled, masked
/// scores s_ij = q_i . k_j / sqrt(D) (not the (batch, heads, T, T) probabilities); its backward
/// recomputes p_ij = exp(s_ij - lse_i) (FlashAttention-2's scheme) and uses
///   dv_j = sum_i p_ij dout_i          dp_ij = dout_i . v_j
///   ds_ij = p_ij (dp_ij - delta_i)    delta_i = dout_i . out_i (= sum_k p_ik dp_ik)
///   dq_i = sum_j ds_ij k_j / sqrt(D)  dk_j = sum_i ds_ij q_i / sqrt(D)
/// Masked positions have p = 0, so they drop out of every sum. On the CPU, per sample and head,
/// the products are sgemm calls on strided blocks of qkv into one head's T x T scratch (masked
/// scores are computed, then zeroed); the scratch buffers are outputs that only their node uses,
/// so the memory plan frees them right after it. On CUDA the attention is fused
/// (flash_attention.cpp) and the T x T scratch is not used.
#include <cmath>

#include "../autodiff.hpp"
#include "../autocast.hpp"
#include "../cuda_lowering.hpp"
#include "../init_program.hpp"
#include "elementwise.hpp"
#include "flash_attention.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

// The float32 lowering's sizes (self- and cross-attention: write_attention_sizes' layout).
void write_sizes(CodeWriter& w, const Node& n, const AttentionInputs& a) {
  write_attention_sizes(w, n, a);
  write_attention_scale(w, n);
}

// Attention dropout on the CPU: write_attention_dropout_constants' and the sizes of a sample's
// masks, a bit per probability (h, i, j) of its (heads, Tq, Tk).
void write_cpu_dropout_constants(CodeWriter& w, const Node& n, bool forward) {
  write_attention_dropout_constants(w, n);
  if (forward)
    w.line("constexpr double kKeep = " + double_literal(1.0 - attr_float(n, "dropout")) +
           ";  // torch's bernoulli_(1 - p), in double");
  w.line("constexpr std::int64_t kMaskBits = std::int64_t{kHeads} * kTq * kTk;  // a sample's probabilities");
  w.line("constexpr std::int64_t kMaskBytes = (kMaskBits + 7) / 8;");
}

// In training, row i's kept probabilities (j < visible) of `src` into `dst`: times 1 / (1 - p)
// where the sample's mask bit (h, i, j) is set, else 0.
void write_row_dropout(CodeWriter& w, const std::string& dst, const std::string& src) {
  w.line("for (int j = 0; j < visible; ++j) " + dst + "[j] = ltrt::dropout_bit(bits, (std::int64_t{h} * kTq + i) * kTk + j) ? " +
         src + "[j] * kDropScale : 0.0f;");
}

// bf16-mixed's (self-attention only): one sequence length kT.
void write_self_sizes(CodeWriter& w, const Node& n, const Value& qkv) {
  write_attention_sizes(w, n, qkv.shape[1]);
  write_attention_scale(w, n);
}

// One sample's head h: q is a Tq x D block of the query rows (kQRow floats apart), k and v Tk x D
// blocks of the key rows (kKVRow apart), so each product below is one sgemm on strided sub-matrices.
void write_query_key_pointers(CodeWriter& w, const AttentionInputs& a, bool masked) {
  w.line("const float* q = " + a.queries() + " + b * kTq * kQRow + h * kD;");
  w.line("const float* k = " + a.keys() + " + b * kTk * kKVRow + kKeyColumn + h * kD;");
  w.line("const float* v = k + kE;");
  if (masked) w.line("const float* key_mask = mask + b * kTk;  // the sample's key padding mask, added to its scores");
}

// The backward's pointers for sample b's head h: its q, k, v, their gradients' blocks, and its
// rows of dout, out, lse and delta.
void write_backward_pointers(CodeWriter& w, const AttentionInputs& a, bool masked) {
  write_query_key_pointers(w, a, masked);
  w.line("float* dq = " + attention_query_grads(a) + " + b * kTq * kQRow + h * kD;");
  w.line("float* dk = " + attention_key_grads(a) + " + b * kTk * kKVRow + kKeyColumn + h * kD;");
  w.line("float* dv = dk + kE;");
  w.line("const float* d_o = dout + b * kTq * kE + h * kD;");
  w.line("const float* o = out + b * kTq * kE + h * kD;");
  w.line("const float* row_lse = lse + (b * kHeads + h) * kTq;");
  w.line("float* row_delta = delta + (b * kHeads + h) * kTq;");
}

// bf16-mixed's: one sample's head h of qkv, q, k, v T x D blocks of the [q | k | v] rows (3E
// floats apart).
void write_head_pointers(CodeWriter& w) {
  w.line("const float* q = qkv + b * kT * 3 * kE + h * kD;  // rows 3E apart");
  w.line("const float* k = q + kE;");
  w.line("const float* v = q + 2 * kE;");
}

// The backward's pointers for sample b's head h: its q, k, v, their gradients' blocks of dqkv, and
// its rows of dout, out, lse and delta.
void write_backward_head_pointers(CodeWriter& w) {
  write_head_pointers(w);
  w.line("float* dq = dqkv + b * kT * 3 * kE + h * kD;");
  w.line("float* dk = dq + kE;");
  w.line("float* dv = dq + 2 * kE;");
  w.line("const float* d_o = dout + b * kT * kE + h * kD;");
  w.line("const float* o = out + b * kT * kE + h * kD;");
  w.line("const float* row_lse = lse + (b * kHeads + h) * kT;");
  w.line("float* row_delta = delta + (b * kHeads + h) * kT;");
}

// Below this many multiply-adds a GEMM splits into few parts, if any (ltrt::sgemm_ld: a part
// has at least 2^20), so that splitting the samples does better.
constexpr std::int64_t kSplitGemmMacs = std::int64_t{1} << 24;
// The most bytes the per-sample scratch slots may take (the backward's p and dp of every sample).
constexpr std::int64_t kSlotBytes = std::int64_t{64} << 20;

// Whether each head's GEMMs (Tq x Tk x D) are too small for ltrt::sgemm_ld to split well, so that
// the float32 CPU attention splits its samples among the step's threads instead, each part with
// its own Tq x Tk scratch: the scratch is then (batch, ...), a slot per sample, and a part uses its
// first sample's (at most kSlotBytes in all). Longer sequences run their samples one after
// another, each GEMM split. The forward's scores take the batched shape whatever the precision
// (autocast marks a bf16-mixed attention after its shapes are inferred); bf16-mixed's attention
// uses its first slot.
bool small_heads(const Node& n, const AttentionInputs& a, std::int64_t batch) {
  const std::int64_t d = attr_int(n, "embed_dim") / attr_int(n, "num_heads");
  return a.tq * a.tk * d < kSplitGemmMacs && batch * 2 * a.tq * a.tk * 4 <= kSlotBytes;
}
bool split_samples(const Node& n, const AttentionInputs& a, std::int64_t batch) {
  return !n.attrs.count("bf16") && small_heads(n, a, batch);
}

void emit_forward(CodeWriter& w, const Node& n, const Graph& g) {
  const AttentionInputs a = attention_inputs(n, g);
  const Value& queries = g.value(n.inputs[0]);
  write_sizes(w, n, a);
  const bool masked = n.attrs.count("key_padding_mask") > 0;
  const bool dropout = n.attrs.count("dropout") > 0;
  if (dropout) {
    write_cpu_dropout_constants(w, n, true);
    w.line("// Attention dropout in training: the masks of the (batch, heads, Tq, Tk) probabilities, which the");
    w.line("// backward reads, drawn first as torch's dropout draws its bernoulli_ over the whole softmax.");
    w.open("if (training)");
    if (attr_float(n, "dropout") < 1.0) {
      w.open("for (int b = 0; b < n; ++b)");
      w.line("ltrt::draw_dropout_bits(rng, kKeep, kDropP, kDropStream, static_cast<std::uint64_t>(b) * kMaskBits, kMaskBits,");
      w.line("                        dropout_mask + b * kMaskBytes);");
      w.close();
    } else {
      w.line("(void)rng;  // p = 1: torch draws nothing and drops every probability");
      w.line("for (std::int64_t k = 0; k < n * kMaskBytes; ++k) dropout_mask[k] = 0;");
    }
    w.close();
  }
  const bool split = split_samples(n, a, queries.shape[0]);
  if (split) {
    w.line("// The samples split among the step's threads; a part's scores use its first sample's Tq x Tk slot.");
    open_split(w, "n", per_sample_numel(queries) * a.tk, SplitIndex::rows);
    w.line("float* p = scores + begin * kTq * kTk;  // one head's Tq x Tk scores at a time, then probabilities");
    w.open("for (int b = begin; b < end; ++b)");
  } else {
    w.line("float* p = scores;  // one head's Tq x Tk scores at a time, then probabilities");
    w.open("for (int b = 0; b < n; ++b)");
  }
  w.open("for (int h = 0; h < kHeads; ++h)");
  write_query_key_pointers(w, a, masked);
  if (dropout) w.line("const std::uint8_t* bits = dropout_mask + b * kMaskBytes;  // the sample's dropout masks");
  w.line("float* row_lse = lse + (b * kHeads + h) * kTq;");
  w.line("ltrt::sgemm_ld(false, true, kTq, kTk, kD, scale, q, kQRow, k, kKVRow, 0.0f, p, kTk);  // scores q k^T / sqrt(D)");
  w.open("for (int i = 0; i < kTq; ++i)");
  w.line("float* row = p + i * kTk;");
  w.line("const int visible = kCausal ? i + 1 : kTk;");
  if (masked) w.line("for (int j = 0; j < visible; ++j) row[j] += key_mask[j];  // the key padding mask: -inf where padded");
  w.line("float max = row[0];");
  w.line("for (int j = 1; j < visible; ++j) max = std::max(max, row[j]);");
  if (masked) {
    w.open("if (max == -INFINITY)");
    w.line("// No key left: torch's attention gives zeros (and no gradient: p = exp(s - inf) = 0 in the backward).");
    w.line("for (int j = 0; j < kTk; ++j) row[j] = 0.0f;");
    w.line("row_lse[i] = INFINITY;");
    w.line("continue;");
    w.close();
  }
  w.line("float sum = 0.0f;");
  w.open("for (int j = 0; j < visible; ++j)");
  w.line("row[j] = ltrt::exp_vec(row[j] - max);");
  w.line("sum += row[j];");
  w.close();
  w.line("row_lse[i] = max + std::log(sum);  // the backward's p_ij = exp(s_ij - lse_i)");
  w.line("for (int j = 0; j < visible; ++j) row[j] /= sum;");
  w.line("for (int j = visible; j < kTk; ++j) row[j] = 0.0f;  // masked: -inf before the softmax");
  if (dropout) {
    w.line("// Dropout of the probabilities in training (lse keeps the softmax's).");
    w.open("if (training)");
    write_row_dropout(w, "row", "row");
    w.close();
  }
  w.close();
  w.line("ltrt::sgemm_ld(false, false, kTq, kD, kTk, 1.0f, p, kTk, v, kKVRow, 0.0f, out + b * kTq * kE + h * kD, kE);  // p v");
  w.close();
  w.close();
  if (split) close_split(w);
}

void emit_backward(CodeWriter& w, const Node& n, const Graph& g) {
  const AttentionInputs a = attention_inputs(n, g);
  const Value& queries = g.value(n.inputs[1]);
  write_sizes(w, n, a);
  const bool masked = n.attrs.count("key_padding_mask") > 0;
  const bool dropout = n.attrs.count("dropout") > 0;
  if (dropout) write_cpu_dropout_constants(w, n, false);
  const bool split = split_samples(n, a, queries.shape[0]);
  if (split) {
    w.line("// The samples split among the step's threads; a part's p and dp use its first sample's slot.");
    open_split(w, "n", per_sample_numel(queries) * a.tk, SplitIndex::rows);
    w.line("float* p = scratch + begin * 2 * kTq * kTk;  // one head's probabilities, recomputed from lse");
    w.line("float* dp = p + kTq * kTk;                   // one head's dp, then ds in its place");
    w.open("for (int b = begin; b < end; ++b)");
  } else {
    w.line("float* p = scratch;               // one head's probabilities, recomputed from lse");
    w.line("float* dp = scratch + kTq * kTk;  // one head's dp, then ds in its place");
    w.open("for (int b = 0; b < n; ++b)");
  }
  w.open("for (int h = 0; h < kHeads; ++h)");
  write_backward_pointers(w, a, masked);
  if (dropout) w.line("const std::uint8_t* bits = dropout_mask + b * kMaskBytes;  // the forward's dropout masks");
  w.line("ltrt::sgemm_ld(false, true, kTq, kTk, kD, scale, q, kQRow, k, kKVRow, 0.0f, p, kTk);  // scores q k^T / sqrt(D)");
  w.open("for (int i = 0; i < kTq; ++i)");
  w.line("float* row = p + i * kTk;");
  w.line("const int visible = kCausal ? i + 1 : kTk;");
  if (masked)  // a row without keys has lse = inf: p = 0
    w.line("for (int j = 0; j < visible; ++j) row[j] = ltrt::exp_vec(row[j] + key_mask[j] - row_lse[i]);");
  else
    w.line("for (int j = 0; j < visible; ++j) row[j] = ltrt::exp_vec(row[j] - row_lse[i]);");
  w.line("for (int j = visible; j < kTk; ++j) row[j] = 0.0f;");
  w.line("float dot = 0.0f;");
  w.line("for (int d = 0; d < kD; ++d) dot += d_o[i * kE + d] * o[i * kE + d];");
  w.line("row_delta[i] = dot;  // dout_i . out_i = sum_j p_ij dp_ij");
  w.close();
  if (dropout) {
    w.line("// The dropped probabilities z (p times the mask, over 1 - p), in dp's place for dv = z^T dout.");
    w.open("for (int i = 0; i < kTq; ++i)");
    w.line("const int visible = kCausal ? i + 1 : kTk;");
    write_row_dropout(w, "(dp + i * kTk)", "(p + i * kTk)");
    w.line("for (int j = visible; j < kTk; ++j) dp[i * kTk + j] = 0.0f;");
    w.close();
    w.line("ltrt::sgemm_ld(true, false, kTk, kD, kTq, 1.0f, dp, kTk, d_o, kE, 0.0f, dv, kKVRow);  // dv = z^T dout");
  } else {
    w.line("ltrt::sgemm_ld(true, false, kTk, kD, kTq, 1.0f, p, kTk, d_o, kE, 0.0f, dv, kKVRow);  // dv = p^T dout");
  }
  w.line("ltrt::sgemm_ld(false, true, kTq, kTk, kD, 1.0f, d_o, kE, v, kKVRow, 0.0f, dp, kTk);  // dp = dout v^T");
  w.line(dropout ? "// ds = p (dp mask / (1 - p) - delta) / sqrt(D), in place of dp"
                 : "// ds = p (dp - delta) / sqrt(D), in place of dp");
  w.open("for (int i = 0; i < kTq; ++i)");
  w.line("const float* pi = p + i * kTk;");
  w.line("float* ds = dp + i * kTk;");
  w.line("const int visible = kCausal ? i + 1 : kTk;");
  if (dropout) {
    write_row_dropout(w, "ds", "ds");
  }
  w.line("for (int j = 0; j < visible; ++j) ds[j] = pi[j] * (ds[j] - row_delta[i]) * scale;");
  w.line("for (int j = visible; j < kTk; ++j) ds[j] = 0.0f;");
  w.close();
  w.line("ltrt::sgemm_ld(false, false, kTq, kD, kTk, 1.0f, dp, kTk, k, kKVRow, 0.0f, dq, kQRow);  // dq = ds k");
  w.line("ltrt::sgemm_ld(true, false, kTk, kD, kTq, 1.0f, dp, kTk, q, kQRow, 0.0f, dk, kKVRow);  // dk = ds^T q");
  w.close();
  w.close();
  if (split) close_split(w);
}

// bf16-mixed (autocast.cpp sets "bf16"): torch's CPU flash attention on bfloat16 q, k, v, step
// for step where it rounds. The scores q k^T, then per block of kKeyBlock keys: scaled and masked
// in float32, the row's running max taken over the block, e = fexp_u20(s - max) (torch's coarse
// exp; plain exp on the block's last columns past whole vectors), rounded to bfloat16 for the
// product with v while the row's sum adds the unrounded e; a later block first rescales the row's
// sum and output by exp(old max - new max). out = round(o * (1 / L)); lse = max + log L.
void emit_forward_bf16(CodeWriter& w, const Node& n, const Graph& g) {
  write_self_sizes(w, n, g.value(n.inputs[0]));
  w.line("constexpr int kKeyBlock = " + std::to_string(kBf16AttentionKeyBlock) + ";  // torch's keys per block");
  w.line("float row_max[kT], row_sum[kT];  // each row's running max and sum of exponentials");
  w.open("for (int b = 0; b < n; ++b)");
  w.open("for (int h = 0; h < kHeads; ++h)");
  write_head_pointers(w);
  w.line("float* row_lse = lse + (b * kHeads + h) * kT;");
  w.line("float* o = out + b * kT * kE + h * kD;");
  w.line("float* p = scores;  // this head's T x T scores, then bfloat16 exponentials");
  w.line("ltrt::sgemm_ld(false, true, kT, kT, kD, 1.0f, q, 3 * kE, k, 3 * kE, 0.0f, p, kT);  // q k^T");
  w.open("for (int n0 = 0; n0 < kT; n0 += kKeyBlock)");
  w.line("const int width = std::min(kKeyBlock, kT - n0);");
  w.line("const int fast_columns = width / kExpVectorWidth * kExpVectorWidth;  // fexp_u20's keys, then std::exp");
  w.line("const int first = kCausal ? n0 : 0;  // (causal: the rows before n0 see none of these keys)");
  w.open("for (int i = first; i < kT; ++i)");
  w.line("float* row = p + i * kT + n0;");
  w.line("const int visible = kCausal ? std::min(width, i + 1 - n0) : width;");
  w.line("for (int j = 0; j < visible; ++j) row[j] *= scale;");
  w.line("float max = n0 == 0 ? -INFINITY : row_max[i];");
  w.line("for (int j = 0; j < visible; ++j) max = std::max(max, row[j]);");
  w.line("float sum = 0.0f;");
  w.open("for (int j = 0; j < visible; ++j)");
  w.line("const float e = j < fast_columns ? ltrt::fexp_u20(row[j] - max) : std::exp(row[j] - max);");
  w.line("sum += e;");
  w.line("row[j] = " + autocast_round() + "(e);");
  w.close();
  w.line("for (int j = visible; j < width; ++j) row[j] = 0.0f;  // masked: -inf before the exp");
  w.open("if (n0 == 0)");
  w.line("row_sum[i] = sum;");
  w.close();
  w.open("else");
  w.line("const float rescale = std::exp(row_max[i] - max);");
  w.line("row_sum[i] = sum + rescale * row_sum[i];");
  w.line("for (int d = 0; d < kD; ++d) o[i * kE + d] *= rescale;");
  w.close();
  w.line("row_max[i] = max;");
  w.close();
  w.line("// o (+)= e v over this block's keys");
  w.line("ltrt::sgemm_ld(false, false, kT - first, kD, width, 1.0f, p + first * kT + n0, kT, v + n0 * 3 * kE, 3 * kE,");
  w.line("               n0 == 0 ? 0.0f : 1.0f, o + first * kE, kE);");
  w.close();
  w.open("for (int i = 0; i < kT; ++i)");
  w.line("row_lse[i] = row_max[i] + std::log(row_sum[i]);  // the backward's p_ij = exp(s_ij - lse_i)");
  w.line("const float inverse_sum = 1.0f / row_sum[i];");
  w.line("for (int d = 0; d < kD; ++d) o[i * kE + d] = " + autocast_round() + "(o[i * kE + d] * inverse_sum);");
  w.close();
  w.close();
  w.close();
}

// bf16-mixed backward, as torch's CPU flash attention: per block of kQBlock query rows, p (exp of
// the scaled, masked scores less lse, in float32) and ds = p (dp - delta) are rounded to bfloat16
// for the products, and dq, dk, dv are bfloat16 tensors: each block's contribution to dk and dv
// is added to them and rounded, and so is each block of keys' contribution to dq's rows.
void emit_backward_bf16(CodeWriter& w, const Node& n, const Graph& g) {
  const Value& qkv = g.value(n.inputs[1]);
  write_self_sizes(w, n, qkv);
  w.line("constexpr int kQBlock = " + std::to_string(bf16_attention_query_block(qkv.shape[1])) +
         ";  // torch's query rows per block for this T");
  w.line("constexpr int kKeyBlock = " + std::to_string(kBf16AttentionKeyBlock) + ";  // torch's keys per block");
  w.line("float* p = scratch;               // one head's p, then rounded to bfloat16");
  w.line("float* dp = scratch + kT * kT;    // one head's ds, rounded to bfloat16");
  w.line("float* part = scratch + 2 * kT * kT;  // a block's T x D contribution to dk or dv");
  w.open("for (int b = 0; b < n; ++b)");
  w.open("for (int h = 0; h < kHeads; ++h)");
  write_backward_head_pointers(w);
  w.line("ltrt::sgemm_ld(false, true, kT, kT, kD, scale, q, 3 * kE, k, 3 * kE, 0.0f, p, kT);  // scores q k^T / sqrt(D)");
  w.open("for (int i = 0; i < kT; ++i)");
  w.line("float* row = p + i * kT;");
  w.line("float* ds = dp + i * kT;");
  w.line("const int visible = kCausal ? i + 1 : kT;");
  w.line("float dot = 0.0f;");
  w.line("for (int d = 0; d < kD; ++d) dot += d_o[i * kE + d] * o[i * kE + d];");
  w.line("row_delta[i] = dot;  // dout_i . out_i");
  w.open("for (int j = 0; j < visible; ++j)");
  w.line("// dp_ij = dout_i . v_j, summed as delta is: where out_i is v_j (a causal first row), torch's");
  w.line("// dp_ij - delta_i is exactly 0, and so is this one");
  w.line("float dpij = 0.0f;");
  w.line("for (int d = 0; d < kD; ++d) dpij += d_o[i * kE + d] * v[j * 3 * kE + d];");
  w.line("const float pij = ltrt::exp_vec(row[j] - row_lse[i]);");
  w.line("ds[j] = " + autocast_round() + "(pij * (dpij - dot));");
  w.line("row[j] = " + autocast_round() + "(pij);");
  w.close();
  w.line("for (int j = visible; j < kT; ++j) row[j] = ds[j] = 0.0f;");
  w.close();
  w.open("for (int i = 0; i < kT; ++i)");
  w.line("for (int d = 0; d < kD; ++d) dk[i * 3 * kE + d] = dv[i * 3 * kE + d] = 0.0f;");
  w.close();
  w.open("for (int r0 = 0; r0 < kT; r0 += kQBlock)");
  w.line("const int rows = std::min(kQBlock, kT - r0);");
  w.line("ltrt::sgemm_ld(true, false, kT, kD, rows, 1.0f, p + r0 * kT, kT, d_o + r0 * kE, kE, 0.0f, part, kD);  // p^T dout");
  w.open("for (int j = 0; j < kT; ++j)");
  w.line("for (int d = 0; d < kD; ++d) dv[j * 3 * kE + d] = " + autocast_round() + "(dv[j * 3 * kE + d] + part[j * kD + d]);");
  w.close();
  w.line("ltrt::sgemm_ld(true, false, kT, kD, rows, scale, dp + r0 * kT, kT, q + r0 * 3 * kE, 3 * kE, 0.0f, part, kD);  // ds^T q / sqrt(D)");
  w.open("for (int j = 0; j < kT; ++j)");
  w.line("for (int d = 0; d < kD; ++d) dk[j * 3 * kE + d] = " + autocast_round() + "(dk[j * 3 * kE + d] + part[j * kD + d]);");
  w.close();
  w.open("for (int n0 = 0; n0 < kT; n0 += kKeyBlock)");
  w.line("const int width = std::min(kKeyBlock, kT - n0);");
  w.line("ltrt::sgemm_ld(false, false, rows, kD, width, scale, dp + r0 * kT + n0, kT, k + n0 * 3 * kE, 3 * kE,");
  w.line("               n0 == 0 ? 0.0f : 1.0f, dq + r0 * 3 * kE, 3 * kE);  // dq (+)= ds k / sqrt(D)");
  w.open("for (int i = r0; i < r0 + rows; ++i)");
  w.line("for (int d = 0; d < kD; ++d) dq[i * 3 * kE + d] = " + autocast_round() + "(dq[i * 3 * kE + d]);");
  w.close();
  w.close();
  w.close();
  w.close();
  w.close();
}

}  // namespace

int bf16_attention_query_block(std::int64_t t) { return t < 192 ? 32 : t < 768 ? 64 : 256; }

void register_multihead_attention(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "attention";
  f.infer = [](const Node& n, const Graph& g) {
    const std::int64_t e = attr_int(n, "embed_dim");
    const Value& queries = g.value(n.inputs.at(0));
    const std::int64_t columns = (n.attrs.count("cross") > 0) ? e : 3 * e;
    if (queries.shape.size() != 3 || queries.shape[2] != columns)
      throw ShapeError(std::string("expects ") + ((n.attrs.count("cross") > 0) ? "q" : "q | k | v") + " of shape (batch, T, " +
                       std::to_string(columns) + "), got " + shape_str(queries.shape));
    if (n.attrs.count("cross") > 0) {
      const Value& keys = g.value(n.inputs.at(1));
      if (keys.shape.size() != 3 || keys.shape[0] != queries.shape[0] || keys.shape[2] != 2 * e)
        throw ShapeError("expects k | v of shape (batch, T, " + std::to_string(2 * e) + "), got " + shape_str(keys.shape));
    }
    const AttentionInputs a = attention_inputs(n, g);
    const std::int64_t b = queries.shape[0];
    // scores: one head's Tq x Tk block on the CPU, one per sample where the samples split among the
    // threads (unused on CUDA); the memory plan frees it after the node.
    const OutputType scores = small_heads(n, a, b) ? OutputType{DType::f32, {b, a.tq, a.tk}, true}
                                                   : OutputType{DType::f32, {a.tq, a.tk}, false};
    std::vector<OutputType> out{{DType::f32, {b, a.tq, e}, true},
                                {DType::f32, {b, attr_int(n, "num_heads"), a.tq}, true},
                                scores};
    // Attention dropout: the CPU's masks, a bit per probability (CUDA draws them from the step's seed
    // where it needs them, and leaves this unused).
    if (n.attrs.count("dropout"))
      out.push_back({DType::u8, {b, (attr_int(n, "num_heads") * a.tq * a.tk + 7) / 8}, true});
    return out;
  };
  f.slots = [](const Node& n) {
    std::vector<std::string> outputs{"out", "lse", "scores"};
    if (n.attrs.count("dropout")) outputs.push_back("dropout_mask");
    Slots s{outputs, n.attrs.count("cross") > 0 ? std::vector<std::string>{"query", "key_value"}
                                                : std::vector<std::string>{"qkv"}};
    if (n.attrs.count("key_padding_mask")) s.inputs.push_back("mask");  // (batch, Tk), added to the scores
    return s;
  };
  f.random_in_training = [](const Node& n) { return n.attrs.count("dropout") > 0; };
  f.cpu_runtime_includes = {"<ltrt/dropout_masks.hpp>"};  // attention dropout's masks
  f.cost = [](const Node& n, const Graph& g) {
    const AttentionInputs a = attention_inputs(n, g);
    const double b = static_cast<double>(g.value(n.inputs[0]).shape[0]);
    const double tq = static_cast<double>(a.tq), tk = static_cast<double>(a.tk);
    const double e = static_cast<double>(attr_int(n, "embed_dim"));
    const double h = static_cast<double>(attr_int(n, "num_heads"));
    // Bytes of the fused (CUDA) form: q, k and v read, out and lse written.
    return Cost{b * (4 * tq * tk * e + 3 * h * tq * tk), 4 * b * (tq * e + 2 * tk * e + e * tq + h * tq)};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    if (n.attrs.count("bf16")) emit_forward_bf16(w, n, g);
    else emit_forward(w, n, g);
  };
  f.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    if (n.attrs.count("bf16")) emit_attention_bf16_forward_cuda(e, n, g);
    else emit_flash_attention_forward(e, n, g);
  };
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const bool cross = n.attrs.count("cross") > 0;
    const std::size_t differentiable = cross ? 2 : 1;  // not the key padding mask (data)
    std::vector<int> grads(n.inputs.size(), -1);
    bool needed = false;
    for (std::size_t i = 0; i < differentiable; ++i) needed = needed || ad.needs_grad(n.inputs[i]);
    if (dout[0] < 0 || !needed) return grads;
    Node b;
    b.op = "attention_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    // dout, qkv (or query, key_value), out, lse
    b.inputs = {dout[0]};
    for (std::size_t i = 0; i < differentiable; ++i) b.inputs.push_back(n.inputs[i]);
    b.inputs.push_back(n.outputs[0]);
    b.inputs.push_back(n.outputs[1]);
    if (n.attrs.count("dropout")) b.inputs.push_back(n.outputs[3]);  // the forward's masks
    if (n.attrs.count("key_padding_mask")) b.inputs.push_back(n.inputs.back());
    const int id = ad.add_backward(std::move(b), cross ? cpp_name(n.layer) + "_att" : ad.grad_name(n.inputs[0]));
    // Both of cross-attention's gradients are computed together, and its projection's backward
    // takes both (zeros would do for one that nothing needs, but it is there).
    const std::vector<int>& outs = ad.graph.nodes[id].outputs;
    for (std::size_t i = 0; i < differentiable; ++i) grads[i] = outs[i];
    return grads;
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "attention_backward";
  b.cpu_runtime_includes = {"<ltrt/dropout_masks.hpp>"};
  b.infer = [](const Node& n, const Graph& g) {
    const AttentionInputs a = attention_inputs(n, g);
    const Value& queries = g.value(n.inputs.at(1));
    const std::int64_t b = queries.shape[0], tq = a.tq, tk = a.tk;
    // delta (batch, heads, Tq): dout_i . out_i per head. scratch: one head's p and dp (then ds)
    // on the CPU (unused on CUDA); the memory plan frees it after the node.
    // bf16-mixed (self-attention) adds a T x D block's contribution to dk or dv (emit_backward_bf16).
    const std::int64_t d = attr_int(n, "embed_dim") / attr_int(n, "num_heads");
    // Split among the threads (split_samples), one p and dp per sample.
    const OutputType scratch = n.attrs.count("bf16")  ? OutputType{DType::f32, {2 * tq * tk + tk * d}, false}
                               : split_samples(n, a, b) ? OutputType{DType::f32, {b, 2, tq, tk}, true}
                                                     : OutputType{DType::f32, {2, tq, tk}, false};
    std::vector<OutputType> out{{DType::f32, queries.shape, true}};  // dqkv, or dquery
    if (a.cross) out.push_back({DType::f32, g.value(n.inputs.at(2)).shape, true});  // dkey_value
    out.push_back({DType::f32, {b, attr_int(n, "num_heads"), tq}, true});
    out.push_back(scratch);
    return out;
  };
  b.slots = [](const Node& n) {
    Slots s = n.attrs.count("cross") > 0
                  ? Slots{{"dquery", "dkey_value", "delta", "scratch"}, {"dout", "query", "key_value", "out", "lse"}}
                  : Slots{{"dqkv", "delta", "scratch"}, {"dout", "qkv", "out", "lse"}};
    if (n.attrs.count("dropout")) s.inputs.push_back("dropout_mask");
    if (n.attrs.count("key_padding_mask")) s.inputs.push_back("mask");
    return s;
  };
  b.cost = [](const Node& n, const Graph& g) {
    const AttentionInputs a = attention_inputs(n, g);
    const double bs = static_cast<double>(g.value(n.inputs[1]).shape[0]);
    const double tq = static_cast<double>(a.tq), tk = static_cast<double>(a.tk);
    const double e = static_cast<double>(attr_int(n, "embed_dim"));
    const double h = static_cast<double>(attr_int(n, "num_heads"));
    // The scores recomputed, then dp, dv, dq, dk; bytes of the fused form: dout, q, k, v, out, lse
    // read, their gradients and delta written (delta read again).
    return Cost{bs * (10 * tq * tk * e + 6 * h * tq * tk), 4 * bs * (4 * tq * e + 4 * tk * e + 3 * h * tq)};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    if (n.attrs.count("bf16")) emit_backward_bf16(w, n, g);
    else emit_backward(w, n, g);
  };
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    if (n.attrs.count("bf16")) emit_attention_bf16_backward_cuda(e, n, g);
    else emit_flash_attention_backward(e, n, g);
  };
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "MultiheadAttention";
  ArgDef embed{"embed_dim", ArgType::integer, std::nullopt, true};
  embed.min = 1;
  ArgDef heads{"num_heads", ArgType::integer, std::nullopt};
  heads.min = 1;
  ArgDef dropout{"dropout", ArgType::number, Attr{0.0}};  // of the attention's probabilities, in training
  dropout.min = 0.0;
  dropout.max = 1.0;
  ArgDef bias_kv{"add_bias_kv", ArgType::boolean, Attr{false}};
  bias_kv.unsupported = "MultiheadAttention's add_bias_kv";
  ArgDef zero_attn{"add_zero_attn", ArgType::boolean, Attr{false}};
  zero_attn.unsupported = "MultiheadAttention's add_zero_attn";
  ArgDef kdim{"kdim", ArgType::integer, std::nullopt};
  kdim.optional = true;
  kdim.unsupported = "MultiheadAttention's kdim (the key has embed_dim features)";
  ArgDef vdim{"vdim", ArgType::integer, std::nullopt};
  vdim.optional = true;
  vdim.unsupported = "MultiheadAttention's vdim (the value has embed_dim features)";
  // torch's default is batch_first=False, (T, batch, E); ltgen's sequences are (batch, T, E).
  ArgDef batch_first{"batch_first", ArgType::boolean, Attr{false}};
  // forward's key_padding_mask: a model input (batch, S), bool (true: the key is padding) or float32
  // (added to the scores).
  l.args = {embed, heads, dropout, {"bias", ArgType::boolean, Attr{true}}, bias_kv, zero_attn, kdim, vdim,
            batch_first, {"is_causal", ArgType::boolean, Attr{false}}, key_padding_mask_arg("key_padding_mask")};
  // A graph node's one input is self-attention (query = key = value); two are cross-attention, the
  // query and the memory that is both key and value (torch's forward(query, memory, memory)).
  l.max_inputs = 2;
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    if (!std::get<bool>(b.args.at("batch_first")))
      throw ShapeError("needs \"batch_first\": true (ltgen's sequences are (batch, T, embed_dim))");
    if (x.shape.size() != 3)
      throw ShapeError("expects a sequence (batch, T, embed_dim), got " + shape_str(x.shape));
    const bool cross = in.size() == 2;
    if (cross) {
      const Value& memory = b.graph.value(in[1]);
      if (memory.shape.size() != 3 || memory.shape[2] != x.shape[2])
        throw ShapeError("expects its second input, the key and value, as a sequence (batch, T, " +
                         std::to_string(x.shape[2]) + ") like the query's embed_dim, got " + shape_str(memory.shape) +
                         " (kdim and vdim other than embed_dim are not supported yet)");
      if (std::get<bool>(b.args.at("is_causal")))
        throw ShapeError("is_causal needs the key to be the query (self-attention: one input); a cross-attention's "
                         "queries see every key");
    }
    const std::int64_t e = x.shape[2];
    auto given = b.args.find("embed_dim");
    if (given != b.args.end() && std::get<std::int64_t>(given->second) != e)
      throw ShapeError("embed_dim is " + std::to_string(std::get<std::int64_t>(given->second)) +
                       " but the input has " + std::to_string(e) + " features; remove embed_dim to infer it");
    const std::int64_t heads = std::get<std::int64_t>(b.args.at("num_heads"));
    if (e % heads != 0)
      throw ShapeError("embed_dim " + std::to_string(e) + " must be divisible by num_heads " + std::to_string(heads));
    const bool bias = std::get<bool>(b.args.at("bias"));
    // torch's state_dict order: in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias. Its
    // constructor draws out_proj first (a Linear's kaiming_uniform_ weight and uniform bias), then
    // _reset_parameters draws in_proj_weight (xavier_uniform_) and zeroes both biases.
    Graph& g = b.graph;
    const int w_in = add_param(g, b.layer + ".in_proj_weight", {3 * e, e});
    const int b_in = bias ? add_param(g, b.layer + ".in_proj_bias", {3 * e}) : -1;
    const int w_out = add_param(g, b.layer + ".out_proj.weight", {e, e});
    const int b_out = bias ? add_param(g, b.layer + ".out_proj.bias", {e}) : -1;
    const auto step = [&](int param, Init kind, double value) {
      InitStep s;
      s.param = param;
      s.kind = kind;
      s.value = value;
      g.init_steps.push_back(s);
      g.value(param).init = kind;  // (what the parameter ends as)
      g.value(param).init_bound = value;
    };
    step(w_out, Init::uniform, kaiming_uniform_bound(e));
    if (bias) step(b_out, Init::uniform, fan_in_bound(e));
    step(w_in, Init::uniform, xavier_uniform_bound(e, 3 * e));
    if (bias) {
      step(b_in, Init::zeros, 0.0);
      step(b_out, Init::zeros, 0.0);
    }
    Node a;
    a.op = "attention";
    a.layer = b.layer;
    a.source = b.source;
    a.attrs["embed_dim"] = e;
    a.attrs["num_heads"] = heads;
    a.attrs["is_causal"] = std::get<bool>(b.args.at("is_causal"));
    if (cross) a.attrs["cross"] = true;  // (absent: self-attention)
    if (const double p = std::get<double>(b.args.at("dropout")); p > 0) a.attrs["dropout"] = p;  // (absent: none)
    if (cross)  // q from the query, k | v from the memory: in_proj_weight's row blocks
      a.inputs = add_attention_in_projection(g, b.layer, b.source, in[0], in[1], w_in, b_in);
    else        // q | k | v of the one input: one Linear, E -> 3E
      a.inputs = {add_linear(g, b.layer + ".in_proj", b.source, in.at(0), w_in, b_in)};
    const std::int64_t keys = b.graph.value(in.at(cross ? 1 : 0)).shape[1];
    if (const int mask = key_padding_mask_input(b, "key_padding_mask", keys); mask >= 0) {
      a.attrs["key_padding_mask"] = true;  // (absent: none)
      a.inputs.push_back(mask);
    }
    const int id = add_op(g, std::move(a), cpp_name(b.layer) + "_att");
    const int att = g.nodes[id].outputs[0];
    const int out = add_linear(g, b.layer + ".out_proj", b.source, att, w_out, b_out);
    // torch's batch_first module computes in (T, batch, E) and returns its output transposed.
    g.value(out).torch_time_major = true;
    return out;
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
