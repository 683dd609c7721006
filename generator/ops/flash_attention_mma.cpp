/// \file
/// The attention forward on tensor cores: FlashAttention-2's forward with each product as three
/// TF32 mma.sync m16n8k8 (3xTF32, about float32's accuracy; runtime/include/ltrt/cuda/mma.cuh),
/// for head dims that are multiples of 4 up to 64 (4 more than a multiple of 8: padded with zeros
/// to the mma's 8-column steps), on targets whose GPUs all have TF32 tensor cores (sm_80 and newer). Other attentions keep the float32 CUDA-core kernels of
/// flash_attention.cpp, whose block places, head pointers and launch sizes this one shares.
#include <string>
#include <utility>
#include <vector>

#include "../cuda_lowering.hpp"
#include "flash_attention.hpp"
#include "flash_attention_mma.hpp"

namespace ltgen {

namespace {

constexpr int kWarps = kMmaAttentionWarps;
constexpr int kKeyTile = kMmaAttentionTile;
constexpr std::int64_t kMaxDim = 64;  // q's fragments, o and the scores stay in registers up to here

std::int64_t head_dim(const Node& n) { return attr_int(n, "embed_dim") / attr_int(n, "num_heads"); }

// The dynamic shared memory of the dQ kernels: q, dout, k and v tiles; and of the dK/dV kernels,
// which also hold 64 lse and delta.
std::int64_t mma_dq_shared_bytes(std::int64_t d) { return 4 * kMmaAttentionTile * shared_stride(d, 4) * 4; }

std::int64_t mma_dkdv_shared_bytes(std::int64_t d) { return mma_dq_shared_bytes(d) + 2 * kMmaAttentionTile * 4; }

// A head_dim of 4 more than a multiple of 8: the tiles' last 4 columns, which the mma's last
// 8-column step reads and no staging writes, set to zero once (each tile has kKeyTile rows).
void write_zero_padding(CodeWriter& k, const std::vector<std::string>& tiles) {
  k.line("// head_dim is 4 more than a multiple of 8: the tiles' columns past it, which the last 8-column mma step");
  k.line("// reads, stay zero (staging writes the first kD; the barrier after the first staging orders them).");
  k.open("for (int r = threadIdx.x; r < kKeyTile; r += kWarps * 32)");
  for (const std::string& t : tiles)
    k.line("*reinterpret_cast<float4*>(&" + t + "[r][kD]) = make_float4(0.0f, 0.0f, 0.0f, 0.0f);");
  k.close();
}

}  // namespace

bool padded_head_dim(const Node& n) { return head_dim(n) % 8 != 0; }

std::int64_t shared_stride(std::int64_t d, std::int64_t residue) {
  std::int64_t s = (d + 7) / 8 * 8;  // the mma's 8-column steps read a padded head_dim's zeros
  while (s % 32 != residue) ++s;
  return s;
}

void write_stage_rows(CodeWriter& k, const std::string& dst, const std::string& src, const std::string& stride,
                      const std::string& row0, const std::string& rows, const std::string& bound) {
  k.line("// " + dst + ": " + rows + " rows of " + src + " from " + row0 + " (zeros past " + bound + "), 16-byte loads.");
  k.open("for (int x = threadIdx.x; x < " + rows + " * (kD / 4); x += kWarps * 32)");
  k.line("const int r = x / (kD / 4), c = x % (kD / 4) * 4;");
  k.line("*reinterpret_cast<float4*>(&" + dst + "[r][c]) =");
  k.line("    " + row0 + " + r < " + bound + " ? *reinterpret_cast<const float4*>(" + src + " + static_cast<std::int64_t>(" + row0 +
         " + r) * " + stride + " + c)");
  k.line("                  : make_float4(0.0f, 0.0f, 0.0f, 0.0f);");
  k.close();
}

void write_scores(CodeWriter& k, const std::string& out, const std::string& a, const std::string& b,
                  MmaOperands operands) {
  const bool exact = operands == MmaOperands::exact;
  const std::string a_type = exact ? "std::uint32_t a_bits[4];" : "ltrt::cuda::Tf32Parts<4> a_parts;";
  const std::string b_type = exact ? "std::uint32_t b_bits[2];" : "ltrt::cuda::Tf32Parts<2> b_parts;";
  auto set = [&](const std::string& fragment, const std::string& x, const std::string& value) {
    return exact ? fragment + "_bits[" + x + "] = ltrt::cuda::exact_tf32(" + value + ");"
                 : fragment + "_parts.set(" + x + ", " + value + ");";
  };
  k.line("float " + out + "[kKeySteps][4] = {};");
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kDimSteps; ++c)");
  k.line(a_type);
  k.line("#pragma unroll");
  k.open("for (int x = 0; x < 4; ++x)");
  k.line("const ltrt::cuda::MmaPosition at = ltrt::cuda::mma_a_position(lane, x);");
  k.line(set("a", "x", a + "[row0 + at.row][8 * c + at.col]"));
  k.close();
  k.line("#pragma unroll");
  k.open("for (int t = 0; t < kKeySteps; ++t)");
  k.line("const int row = t * 8 + group / 2 + 4 * (group % 2);  // b's row of the lane's B column");
  k.line(b_type);
  k.line("for (int x = 0; x < 2; ++x) " + set("b", "x", b + "[row][8 * c + quad + 4 * x]"));
  k.line(exact ? "ltrt::cuda::mma_exact_16x8x8(" + out + "[t], a_bits, b_bits);"
               : "ltrt::cuda::mma_3xtf32_16x8x8(" + out + "[t], a_parts, b_parts);");
  k.close();
  k.close();
}

void write_accumulate(CodeWriter& k, const std::string& acc, const std::string& w, const std::string& operand,
                      MmaOperands operands, const std::string& first_step, const std::string& end_step) {
  const bool exact = operands == MmaOperands::exact;
  k.line("#pragma unroll");
  k.open("for (int t = " + first_step + "; t < " + end_step + "; ++t)");
  if (exact) {
    k.line("std::uint32_t w_bits[4];  // the A fragment: rows group, group + 8 of columns quad, quad + 4");
    for (const auto& [x, from] : {std::pair{0, 0}, {1, 2}, {2, 1}, {3, 3}})
      k.line("w_bits[" + std::to_string(x) + "] = ltrt::cuda::exact_tf32(" + w + "[t][" + std::to_string(from) + "]);");
  } else {
    k.line("ltrt::cuda::Tf32Parts<4> w_parts;  // the A fragment: rows group, group + 8 of columns quad, quad + 4");
    for (const auto& [x, from] : {std::pair{0, 0}, {1, 2}, {2, 1}, {3, 3}})
      k.line("w_parts.set(" + std::to_string(x) + ", " + w + "[t][" + std::to_string(from) + "]);");
  }
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kDimSteps; ++c)");
  const std::string b_value = operand + "[t * 8 + quad + 4 * x][8 * c + group]";
  if (exact) {
    k.line("std::uint32_t b_bits[2];");
    k.line("for (int x = 0; x < 2; ++x) b_bits[x] = ltrt::cuda::exact_tf32(" + b_value + ");");
    k.line("ltrt::cuda::mma_exact_16x8x8(" + acc + "[c], w_bits, b_bits);");
  } else {
    k.line("ltrt::cuda::Tf32Parts<2> b_parts;");
    k.line("for (int x = 0; x < 2; ++x) b_parts.set(x, " + b_value + ");");
    k.line("ltrt::cuda::mma_3xtf32_16x8x8(" + acc + "[c], w_parts, b_parts);");
  }
  k.close();
  k.close();
}

void write_rows(CodeWriter& k, const std::string& acc, const std::string& dst, const std::string& stride,
                const std::string& first, const std::string& bound, bool padded) {
  k.line("#pragma unroll");
  k.open("for (int r = 0; r < 2; ++r)");
  k.line("const int row = " + first + " + row0 + group + 8 * r;");
  k.line("if (row >= " + bound + ") continue;");
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kDimSteps; ++c)");
  if (padded) k.line("if (8 * c + 2 * quad >= kD) continue;  // the padding's columns");
  k.line("*reinterpret_cast<float2*>(" + dst + " + static_cast<std::int64_t>(row) * " + stride +
         " + 8 * c + 2 * quad) = make_float2(" + acc + "[c][2 * r], " + acc + "[c][2 * r + 1]);");
  k.close();
  k.close();
}

void open_fragment_loops(CodeWriter& k) {
  k.line("#pragma unroll");
  k.open("for (int t = 0; t < kKeySteps; ++t)");
  k.line("#pragma unroll");
  k.open("for (int x = 0; x < 4; ++x)");
}

void close_fragment_loops(CodeWriter& k) {
  k.close();
  k.close();
}

void write_stage_query_tile(CodeWriter& k) {
  k.line("__syncthreads();  // every warp is done with the last query tile");
  write_stage_rows(k, "q_tile", "q", "kQRow", "i0", "kQueryTile", "kTq");
  write_stage_rows(k, "dout_tile", "dout_head", "kE", "i0", "kQueryTile", "kTq");
  k.open("for (int x = threadIdx.x; x < kQueryTile; x += kWarps * 32)");
  k.line("lse_tile[0][x] = i0 + x < kTq ? lse_head[i0 + x] : 0.0f;");
  k.line("delta_tile[0][x] = i0 + x < kTq ? delta_head[i0 + x] : 0.0f;");
  k.close();
  k.line("__syncthreads();");
}

void write_dq_block_rows(CodeWriter& k) {
  k.line("const int i0 = (kRowTiles - 1 - block_tile) * kQueryTile;  // the longest causal rows start first");
  write_stage_rows(k, "q_tile", "q", "kQRow", "i0", "kQueryTile", "kTq");
  write_stage_rows(k, "dout_tile", "dout_head", "kE", "i0", "kQueryTile", "kTq");
  k.line("float lse_i[2], delta_i[2];  // of rows group and group + 8");
  k.line("#pragma unroll");
  k.open("for (int r = 0; r < 2; ++r)");
  k.line("const int i = i0 + row0 + group + 8 * r;");
  k.line("lse_i[r] = i < kTq ? lse_head[i] : 0.0f;");
  k.line("delta_i[r] = i < kTq ? delta_head[i] : 0.0f;");
  k.close();
}

void write_stage_key_tile(CodeWriter& k) {
  k.line("__syncthreads();  // every warp is done with the last key tile (and the block's rows are staged)");
  write_stage_rows(k, "k_tile", "keys_k", "kKVRow", "j0", "kKeyTile", "kTk");
  write_stage_rows(k, "v_tile", "keys_v", "kKVRow", "j0", "kKeyTile", "kTk");
  k.line("__syncthreads();");
}

void write_rounding_flush(CodeWriter& k, const std::string& condition, const std::vector<std::string>& lines) {
  k.open("if (" + condition + ")");
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kDimSteps; ++c)");
  k.open("for (int x = 0; x < 4; ++x)");
  for (const std::string& line : lines) k.line(line);
  k.close();
  k.close();
  k.close();
}

void write_prepare_tensor_cores(CudaEmit& e) {
  e.prepare.line("ltrt::cuda::check_tensor_cores();  // the GPU's mma.sync against the layouts the kernels assume");
}

void open_backward_mma(CodeWriter& k, const Node& n, const AttentionInputs& a, const std::string& name,
                   const std::vector<SharedTile>& tiles, std::int64_t bytes, const std::string& row_tile,
                   const std::string& rows) {
  k.open("__global__ void __launch_bounds__(" + std::to_string(kWarps * 32) + ") " + name +
         "(float* __restrict__ grads, const float* __restrict__ dout, const float* __restrict__ queries, "
         "const float* __restrict__ keys, const float* __restrict__ lse, const float* __restrict__ delta, float scale" +
         attention_dropout_params(n, false) + attention_mask_param(n) + ")");
  write_attention_sizes(k, n, a);
  k.line("constexpr int kWarps = " + std::to_string(kWarps) + ", kQueryTile = 16 * kWarps, kKeyTile = " +
         std::to_string(kKeyTile) + ";");
  k.line(std::string("constexpr int kDimSteps = ") + (padded_head_dim(n) ? "(kD + 7) / 8" : "kD / 8") +
         ", kKeySteps = kKeyTile / 8;  // 8-wide steps over head_dim and over a tile");
  k.line("static_assert(kKeyTile == kQueryTile, \"the scores of either side are kKeySteps 8-wide steps\");");
  k.line("constexpr int kStride = " + std::to_string(shared_stride(head_dim(n), 4)) +
         ";  // floats a shared row: 4 more than a multiple of 32");
  write_shared_tiles(k, tiles, bytes);
  if (padded_head_dim(n)) {
    std::vector<std::string> rows;
    for (const SharedTile& t : tiles)
      if (t.cols == "kStride") rows.push_back(t.name);
    write_zero_padding(k, rows);
  }
  k.line("const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;");
  k.line("const int group = lane / 4, quad = lane % 4;  // the fragments' row group and thread in group");
  k.line("const int row0 = 16 * warp;                   // the warp's first row of the block's tile");
  write_block_place(k, row_tile, rows);
  write_head_pointers(k, {"const float* dout_head = dout"}, {"const float* lse_head = lse", "const float* delta_head = delta"});
  write_attention_mask_pointer(k, n);
  write_attention_dropout_seed(k, n, false);
}

void open_dkdv_mma(CodeWriter& k, const Node& n, const AttentionInputs& a, const std::string& name) {
  open_backward_mma(k, n, a, name,
                    {{"k_tile", "kKeyTile", "kStride", "the block's keys"},
                     {"v_tile", "kKeyTile", "kStride", "and values"},
                     {"q_tile", "kQueryTile", "kStride", "a query tile's queries"},
                     {"dout_tile", "kQueryTile", "kStride", "and output gradients"},
                     {"lse_tile", "1", "kQueryTile", "and their lse"},
                     {"delta_tile", "1", "kQueryTile", "and delta"}},
                    mma_dkdv_shared_bytes(head_dim(n)), "kKeyTile", "kTk");
  k.line("const int j0 = block_tile * kKeyTile;  // the first keys see the most queries and start first");
  k.line("float* dk_head = grads + static_cast<std::int64_t>(b) * kTk * kKVRow + kKeyColumn + h * kD;");
  k.line("float* dv_head = dk_head + kE;");
  write_stage_rows(k, "k_tile", "keys_k", "kKVRow", "j0", "kKeyTile", "kTk");
  write_stage_rows(k, "v_tile", "keys_v", "kKVRow", "j0", "kKeyTile", "kTk");
}

void open_dq_mma(CodeWriter& k, const Node& n, const AttentionInputs& a, const std::string& name) {
  open_backward_mma(k, n, a, name,
                    {{"q_tile", "kQueryTile", "kStride", "the block's queries"},
                     {"dout_tile", "kQueryTile", "kStride", "and output gradients"},
                     {"k_tile", "kKeyTile", "kStride", "a key tile's keys"},
                     {"v_tile", "kKeyTile", "kStride", "and values"}},
                    mma_dq_shared_bytes(head_dim(n)), "kQueryTile", "kTq");
  k.line("float* dq_head = grads + static_cast<std::int64_t>(b) * kTq * kQRow + h * kD;");
  write_dq_block_rows(k);
}

void write_forward_mma_top(CodeWriter& k, const Node& n, const AttentionInputs& a) {
  const std::int64_t d = head_dim(n);
  write_attention_sizes(k, n, a);
  k.line("constexpr int kWarps = " + std::to_string(kWarps) + ", kQueryTile = 16 * kWarps;");
  k.line("constexpr int kKeyTile = " + std::to_string(kKeyTile) + ";  // TUNE: keys staged at a time");
  k.line(std::string("constexpr int kDimSteps = ") + (d % 8 != 0 ? "(kD + 7) / 8;" : "kD / 8;    ") +
         " // 8-column steps over head_dim: q's fragments, o's tiles");
  k.line("constexpr int kKeySteps = kKeyTile / 8;  // 8-key steps over the key tile: the scores' tiles");
  k.line("// Floats a shared row: k's is 4 more than a multiple of 32 and v's 8 more, so that a warp's reads of");
  k.line("// a B fragment (k: 8 keys x 4 columns; v: 4 keys x 8 columns) meet 32 different banks.");
  k.line("constexpr int kKStride = " + std::to_string(shared_stride(d, 4)) +
         ", kVStride = " + std::to_string(shared_stride(d, 8)) + ";");
  k.line("alignas(16) __shared__ float k_tile[kKeyTile][kKStride];  // 16-byte stores");
  k.line("alignas(16) __shared__ float v_tile[kKeyTile][kVStride];");
  if (d % 8 != 0) write_zero_padding(k, {"k_tile", "v_tile"});
  k.line("const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;");
  k.line("const int group = lane / 4, quad = lane % 4;  // the fragments' row group and thread in group");
  write_block_place(k, "kQueryTile", "kTq");
  k.line("const int i0 = (kRowTiles - 1 - block_tile) * kQueryTile;  // the longest causal rows start first");
  k.line("const int row0 = i0 + 16 * warp;                           // the warp's first row");
  write_head_pointers(k, {"float* out_head = out"}, {"float* lse_head = lse"});
  write_attention_mask_pointer(k, n);
  write_attention_dropout_seed(k, n, true);
}

void emit_mma_backward_launches(CudaEmit& e, const Node& n, const AttentionInputs& a) {
  const std::int64_t d = head_dim(n);
  e.body.line("// dq, and dk with dv, come from separate kernels: each gradient element has one writer.");
  struct Launch {
    std::string kernel, rows, grads;
    std::int64_t bytes;
  };
  for (const Launch& l : {Launch{e.fn + "_dkdv_kernel", "kTk", attention_key_grads(a), mma_dkdv_shared_bytes(d)},
                          Launch{e.fn + "_dq_kernel", "kTq", attention_query_grads(a), mma_dq_shared_bytes(d)}}) {
    const std::string& kernel = l.kernel;
    const std::int64_t bytes = l.bytes;
    std::vector<std::string> args{l.grads, "dout", a.queries(), a.keys(), "lse", "delta", "scale"};
    for (const std::string& x : attention_dropout_args(n, false)) args.push_back(x);
    add_attention_mask_arg(n, args);
    emit_launch(e.body, kernel, "(" + l.rows + " + 63) / 64 * kHeads * n", std::to_string(kWarps * 32), args,
                std::to_string(bytes));
    if (bytes > 48 * 1024)
      e.prepare.line("ltrt::cuda::allow_shared_memory(" + kernel + ", " + std::to_string(bytes) + ", \"" + kernel + "\");");
  }
}

bool mma_attention_applies(const CudaEmit& e, const Node& n) {
  const std::int64_t d = head_dim(n);
  return e.tensor_cores && d % 4 == 0 && d <= kMaxDim;
}

void emit_flash_attention_forward_mma(CudaEmit& e, const Node& n, const Graph& g) {
  const AttentionInputs a = attention_inputs(n, g);
  CodeWriter& k = e.kernels;
  k.line();
  k.line("// Fused attention on tensor cores (FlashAttention-2's forward): a block of 4 warps per (64 query");
  k.line("// rows, head, sample), warp w owning rows 16w ... 16w + 15, walks the key tiles its rows see. Per row");
  k.line("// it keeps the running max m of the scores, the sum l of exp(s - m) and o = sum_j exp(s_j - m) v_j,");
  k.line("// rescaled when m grows, and writes out = o / l and lse = m + log(l) for the backward. s = q k^T and");
  k.line("// o += p v are warp-wide mma.sync m16n8k8 in 3xTF32 (each operand split into two TF32 parts:");
  k.line("// big * big + big * small + small * big, about float32's accuracy; ltrt/cuda/mma.cuh has the");
  k.line("// fragment layouts). Each 8 columns of the scores hold keys 0, 4, 1, 5, 2, 6, 3, 7 of their 8, so a");
  k.line("// thread's scores are, as they stand, its A fragment of p v: no exchange between lanes.");
  k.open("__global__ void __launch_bounds__(" + std::to_string(kWarps * 32) + ") " + e.fn +
         "_kernel(float* __restrict__ out, float* __restrict__ lse, const float* __restrict__ queries, "
         "const float* __restrict__ keys, float scale" + attention_dropout_params(n, true) + attention_mask_param(n) + ")");
  write_forward_mma_top(k, n, a);
  k.line("// The warp's rows of q as A fragments, split into TF32 parts once (zeros past kTq).");
  k.line("ltrt::cuda::Tf32Parts<4> q_parts[kDimSteps];");
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kDimSteps; ++c)");
  k.line("#pragma unroll");
  k.open("for (int x = 0; x < 4; ++x)");
  k.line("const ltrt::cuda::MmaPosition at = ltrt::cuda::mma_a_position(lane, x);");
  k.line("const int i = row0 + at.row;");
  k.line(std::string("q_parts[c].set(x, i < kTq") + (padded_head_dim(n) ? " && 8 * c + at.col < kD" : "") +
         " ? q[static_cast<std::int64_t>(i) * kQRow + 8 * c + at.col] : 0.0f);");
  k.close();
  k.close();
  k.line("// o's C fragments (rows group and group + 8, columns 2 quad and 2 quad + 1 of each 8), and m and l");
  k.line("// of rows group (0) and group + 8 (1).");
  k.line("float o[kDimSteps][4] = {};");
  k.line("float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};");
  k.line("const int key_end = kCausal ? (i0 + kQueryTile < kTk ? i0 + kQueryTile : kTk) : kTk;  // key tiles past the diagonal: all masked");
  k.open("for (int j0 = 0; j0 < key_end; j0 += kKeyTile)");
  k.line("__syncthreads();  // every warp is done with the last tile");
  write_stage_rows(k, "k_tile", "keys_k", "kKVRow", "j0", "kKeyTile", "kTk");
  write_stage_rows(k, "v_tile", "keys_v", "kKVRow", "j0", "kKeyTile", "kTk");
  k.line("__syncthreads();");
  k.line("// s = q k^T: element x of 8-key step t is row group + 8 (x / 2), key t * 8 + quad + 4 (x % 2).");
  k.line("float s[kKeySteps][4];");
  k.line("#pragma unroll");
  k.open("for (int t = 0; t < kKeySteps; ++t)");
  k.line("const int key = t * 8 + group / 2 + 4 * (group % 2);  // the key of the lane's B column");
  k.line("s[t][0] = s[t][1] = s[t][2] = s[t][3] = 0.0f;");
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kDimSteps; ++c)");
  k.line("ltrt::cuda::Tf32Parts<2> k_parts;");
  k.line("for (int x = 0; x < 2; ++x) k_parts.set(x, k_tile[key][8 * c + quad + 4 * x]);");
  k.line("ltrt::cuda::mma_3xtf32_16x8x8(s[t], q_parts[c], k_parts);");
  k.close();
  k.close();
  k.line("// Scale and mask the scores, then fold them into m and l (the CPU's softmax, online): a row's");
  k.line("// max and sum over its 4 lanes (quad) are two shuffles.");
  k.line("float tile_max[2] = {-INFINITY, -INFINITY};");
  open_fragment_loops(k);
  k.line("const int i = row0 + group + 8 * (x / 2), j = j0 + t * 8 + quad + 4 * (x % 2);");
  k.line("s[t][x] = j < kTk && (!kCausal || j <= i) ? " + attention_masked_score(n, "s[t][x] * scale", "j") +
         " : -INFINITY;  // masked: -inf before the softmax");
  k.line("tile_max[x / 2] = fmaxf(tile_max[x / 2], s[t][x]);");
  close_fragment_loops(k);
  k.line(n.attrs.count("key_padding_mask") ? "float rescale[2], m_ref[2], sum[2] = {0.0f, 0.0f};"
                                            : "float rescale[2], sum[2] = {0.0f, 0.0f};");
  k.line("#pragma unroll");
  k.open("for (int r = 0; r < 2; ++r)");
  k.line("for (int lanes = 1; lanes < 4; lanes *= 2) tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], lanes));");
  const bool masked = n.attrs.count("key_padding_mask") > 0;
  if (masked) {  // m_ref: m, or 0 while the row has no key (all padded so far): exp(-inf) = 0
    k.line("const float m_new = fmaxf(m[r], tile_max[r]);");
    k.line("m_ref[r] = m_new == -INFINITY ? 0.0f : m_new;");
    k.line("rescale[r] = ltrt::exp_vec(m[r] - m_ref[r]);  // 0 on the first tile");
  } else {
    k.line("const float m_new = fmaxf(m[r], tile_max[r]);  // finite: every row sees key 0 in the first tile");
    k.line("rescale[r] = ltrt::exp_vec(m[r] - m_new);      // 0 on the first tile");
  }
  k.line("m[r] = m_new;");
  k.close();
  open_fragment_loops(k);
  if (masked)
    k.line("s[t][x] = ltrt::exp_vec(s[t][x] - m_ref[x / 2]);  // p: 0 where masked");
  else
    k.line("s[t][x] = ltrt::exp_vec(s[t][x] - m[x / 2]);  // p: 0 where masked");
  k.line("sum[x / 2] += s[t][x];");
  close_fragment_loops(k);
  k.line("#pragma unroll");
  k.open("for (int r = 0; r < 2; ++r)");
  k.line("for (int lanes = 1; lanes < 4; lanes *= 2) sum[r] += __shfl_xor_sync(0xffffffffu, sum[r], lanes);");
  k.line("l[r] = l[r] * rescale[r] + sum[r];");
  k.close();
  if (n.attrs.count("dropout")) {
    k.line("// Dropout of the probabilities in training: o takes the dropped ones, l kept the softmax's sum.");
    k.open("if (training)");
    open_fragment_loops(k);
    k.line("const int i = row0 + group + 8 * (x / 2), j = j0 + t * 8 + quad + 4 * (x % 2);");
    k.line("s[t][x] = " + attention_dropped("s[t][x]", "i", "j") + ";");
    close_fragment_loops(k);
    k.close();
  }
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kDimSteps; ++c)");
  k.line("o[c][0] *= rescale[0];");
  k.line("o[c][1] *= rescale[0];");
  k.line("o[c][2] *= rescale[1];");
  k.line("o[c][3] *= rescale[1];");
  k.close();
  k.line("// o += p v: p, in s, is the A fragment as it stands; v's rows the B fragment.");
  write_accumulate(k, "o", "s", "v_tile", MmaOperands::split_3xtf32);
  k.close();
  k.line("// out = o / l (the CPU's p / sum, then p v) and lse, rows under kTq.");
  k.line("#pragma unroll");
  k.open("for (int r = 0; r < 2; ++r)");
  k.line("const int i = row0 + group + 8 * r;");
  k.line("if (i >= kTq) continue;");
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kDimSteps; ++c)");
  if (padded_head_dim(n)) k.line("if (8 * c + 2 * quad >= kD) continue;  // the padding's columns");
  k.line("*reinterpret_cast<float2*>(out_head + static_cast<std::int64_t>(i) * kE + 8 * c + 2 * quad) =");
  if (masked) {  // a row without keys: zeros, as torch's, and lse = inf so that the backward's p is 0
    k.line("    l[r] == 0.0f ? make_float2(0.0f, 0.0f) : make_float2(o[c][2 * r] / l[r], o[c][2 * r + 1] / l[r]);");
    k.close();
    k.line("if (quad == 0) lse_head[i] = l[r] == 0.0f ? INFINITY : m[r] + logf(l[r]);  // for the backward");
  } else {
    k.line("    make_float2(o[c][2 * r] / l[r], o[c][2 * r + 1] / l[r]);");
    k.close();
    k.line("if (quad == 0) lse_head[i] = m[r] + logf(l[r]);  // for the backward");
  }
  k.close();
  k.close();

  CodeWriter& w = e.body;
  write_prepare_tensor_cores(e);
  write_attention_host_sizes(w, n, a, false);
  w.line("// scores is the CPU program's T x T scratch: the fused kernel needs none.");
  std::vector<std::string> forward_args{"out", "lse", a.queries(), a.keys(), "scale"};
  for (const std::string& x : attention_dropout_args(n, true)) forward_args.push_back(x);
  add_attention_mask_arg(n, forward_args);
  emit_launch(w, e.fn + "_kernel", "(kTq + " + std::to_string(16 * kWarps - 1) + ") / " + std::to_string(16 * kWarps) +
                                       " * kHeads * n",
              std::to_string(kWarps * 32), forward_args);
}


void emit_flash_attention_backward_mma(CudaEmit& e, const Node& n, const Graph& g) {
  const AttentionInputs a = attention_inputs(n, g);
  CodeWriter& k = e.kernels;

  k.line();
  k.line("// dk_j = sum_i ds_ij q_i and dv_j = sum_i p_ij dout_i on tensor cores: a block of 4 warps per (64 key");
  k.line("// rows, head, sample), warp w owning keys 16w ... 16w + 15, walks the query tiles that see its keys");
  k.line("// and recomputes p_ij = exp(s_ij - lse_i) and ds_ij = p_ij (dp_ij - delta_i) / sqrt(D), dp_ij =");
  k.line("// dout_i . v_j, with s^T = k q^T, dp^T = v dout^T, dv += p^T dout and dk += ds^T q as mma.sync in");
  k.line("// 3xTF32. Each dk and dv element has one writer, summed in a fixed order: no atomics.");
  open_dkdv_mma(k, n, a, e.fn + "_dkdv_kernel");
  k.line("float dk[kDimSteps][4] = {}, dv[kDimSteps][4] = {};");
  k.line("const int first = kCausal ? j0 / kQueryTile * kQueryTile : 0;  // query tiles before it see none of the keys");
  k.open("for (int i0 = first; i0 < kTq; i0 += kQueryTile)");
  write_stage_query_tile(k);
  k.line("// s^T and dp^T: element x of step t is key row group + 8 (x / 2), query t * 8 + quad + 4 (x % 2).");
  write_scores(k, "s", "k_tile", "q_tile", MmaOperands::split_3xtf32);
  write_scores(k, "dp", "v_tile", "dout_tile", MmaOperands::split_3xtf32);
  k.line("// p^T into s and ds^T into dp (the CPU's formulas; 0 where masked or past the rows).");
  open_fragment_loops(k);
  k.line("const int j = j0 + row0 + group + 8 * (x / 2), at = t * 8 + quad + 4 * (x % 2), i = i0 + at;");
  if (n.attrs.count("key_padding_mask"))  // (key rows past kTk read no mask)
    k.line("const float p_ij = i < kTq && j < kTk && (!kCausal || j <= i) ? ltrt::exp_vec(" +
           attention_masked_score(n, "s[t][x] * scale", "j") + " - lse_tile[0][at]) : 0.0f;");
  else
    k.line("const float p_ij = i < kTq && (!kCausal || j <= i) ? ltrt::exp_vec(s[t][x] * scale - lse_tile[0][at]) : 0.0f;");
  if (n.attrs.count("dropout")) {  // dv takes the dropped probabilities; ds = p (dp mask / (1 - p) - delta)
    k.line("s[t][x] = " + attention_dropped("p_ij", "i", "j") + ";");
    k.line("dp[t][x] = p_ij * (" + attention_dropped("dp[t][x]", "i", "j") + " - delta_tile[0][at]) * scale;");
  } else {
    k.line("s[t][x] = p_ij;");
    k.line("dp[t][x] = p_ij * (dp[t][x] - delta_tile[0][at]) * scale;");
  }
  close_fragment_loops(k);
  k.line("// dv += p^T dout, dk += ds^T q.");
  write_accumulate(k, "dv", "s", "dout_tile", MmaOperands::split_3xtf32);
  write_accumulate(k, "dk", "dp", "q_tile", MmaOperands::split_3xtf32);
  k.close();
  write_rows(k, "dk", "dk_head", "kKVRow", "j0", "kTk", padded_head_dim(n));
  write_rows(k, "dv", "dv_head", "kKVRow", "j0", "kTk", padded_head_dim(n));
  k.close();

  k.line();
  k.line("// dq_i = sum_j ds_ij k_j on tensor cores: a block of 4 warps per (64 query rows, head, sample) walks");
  k.line("// the key tiles its rows see and recomputes ds as the dk/dv kernel does (s = q k^T, dp = dout v^T,");
  k.line("// dq += ds k, each mma.sync in 3xTF32). One writer per element, no atomics.");
  open_dq_mma(k, n, a, e.fn + "_dq_kernel");
  k.line("float dq[kDimSteps][4] = {};");
  k.line("const int key_end = kCausal ? (i0 + kQueryTile < kTk ? i0 + kQueryTile : kTk) : kTk;  // key tiles past the diagonal: all masked");
  k.open("for (int j0 = 0; j0 < key_end; j0 += kKeyTile)");
  write_stage_key_tile(k);
  k.line("// s and dp: element x of step t is row group + 8 (x / 2), key t * 8 + quad + 4 (x % 2).");
  write_scores(k, "s", "q_tile", "k_tile", MmaOperands::split_3xtf32);
  write_scores(k, "dp", "dout_tile", "v_tile", MmaOperands::split_3xtf32);
  k.line("// ds into s (the CPU's formulas; 0 where masked or past the rows).");
  open_fragment_loops(k);
  k.line("const int i = i0 + row0 + group + 8 * (x / 2), j = j0 + t * 8 + quad + 4 * (x % 2);");
  k.line("const float p_ij = j < kTk && (!kCausal || j <= i) ? ltrt::exp_vec(" +
         attention_masked_score(n, "s[t][x] * scale", "j") + " - lse_i[x / 2]) : 0.0f;");
  k.line("s[t][x] = p_ij * (" +
         (n.attrs.count("dropout") ? attention_dropped("dp[t][x]", "i", "j") : std::string("dp[t][x]")) +
         " - delta_i[x / 2]) * scale;");
  close_fragment_loops(k);
  k.line("// dq += ds k.");
  write_accumulate(k, "dq", "s", "k_tile", MmaOperands::split_3xtf32);
  k.close();
  write_rows(k, "dq", "dq_head", "kQRow", "i0", "kTq", padded_head_dim(n));
  k.close();

  emit_mma_backward_launches(e, n, a);
}

}  // namespace ltgen
