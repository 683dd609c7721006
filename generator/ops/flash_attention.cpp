#include "flash_attention.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../cuda_lowering.hpp"

namespace ltgen {

namespace {

// Every attention kernel's block is kGroups groups of kLanes threads. A block owns a tile of rows
// (query rows; key rows in dK/dV) and walks tiles of columns of the other side. Thread (group,
// lane) holds rows group * kRows ... group * kRows + kRows - 1 of the scores and columns
// lane * kCols ... lane * kCols + kCols - 1: adjacent floats in shared memory, read as one 16-byte
// load (two for 8) as tiled_gemm.cuh does. In its accumulators (o, dq, dk, dv) it holds the same
// rows and head-dim columns lane, lane + kLanes, ... A row's max and sum over its columns are three
// shuffles among its kLanes threads.
constexpr int kLanes = 8;
constexpr int kGroups = 16;
constexpr int kBlockThreads = kLanes * kGroups;
// TUNE: the tiles' budget. A block takes at most the target's shared budget of dynamic shared
// memory (CudaTarget: 99 KB for sm_80 and newer, the most a block may opt in to on sm_86 and
// sm_89; 64 KB with sm_75 in --cuda-arch) and about 200 registers a thread (kRegisterFloats of
// accumulators and score tiles, the rest operands and addresses), so that two blocks (8 warps)
// fit an H100's or H200's SM (228 KB, 64 K registers).
// __launch_bounds__' minimum blocks an SM: lets ptxas use up to 255 registers a thread (without it,
// it chose 128 and spilled for a head_dim of 3).
constexpr int kBlocksPerSM = 2;
constexpr std::int64_t kDefaultShared = 48 * 1024;  // more needs cudaFuncSetAttribute (prepare_kernels)
constexpr std::int64_t kChunkMax = 64;              // head-dim columns staged at a time
constexpr std::int64_t kRegisterFloats = 128;       // accumulators and score tiles a thread may hold
constexpr std::int64_t kPad = 4;  // floats after each row of a shared tile: rows stay 16-byte aligned

// The tiles of one kernel, chosen at generation time from the head dim.
struct Tiles {
  std::int64_t rows = 0;    // rows of the scores a thread holds (kRows); the block's row tile is kGroups * rows
  std::int64_t cols = 0;    // columns a thread holds (kCols); a column tile is kLanes * cols
  std::int64_t chunk = 0;   // head-dim columns in shared memory at a time, a multiple of kLanes (zeros past D)
  std::int64_t chunks = 0;  // chunks to cover D
  std::int64_t shared_bytes = 0;
  std::int64_t budget = 0;  // the most it could have had (CudaEmit::shared_budget)
};

// What a kernel keeps: `operands` staged tiles per side (a chunk x tile each: the forward's q, and
// k then v; the backward's q and dout, k and v), `score_tiles` row tile x column tile blocks in
// shared memory (p, ds), `products` score tiles in registers (s, dp) and `accumulators` head-dim
// rows (o or dq; dk and dv). The largest score tile a thread holds wins (most FMAs per shared
// memory load), a larger row tile on ties (fewer passes over the columns).
Tiles choose_tiles(std::int64_t d, int operands, int score_tiles, int products, int accumulators,
                  std::int64_t budget) {
  Tiles best;
  best.budget = budget;
  const std::int64_t chunk = std::min(kChunkMax, (d + kLanes - 1) / kLanes * kLanes);
  const std::int64_t chunks = (d + chunk - 1) / chunk;
  const std::int64_t dim_cols = chunks * chunk / kLanes;
  for (std::int64_t rows : {8, 4, 2, 1}) {
    for (std::int64_t cols : {8, 4, 2, 1}) {
      const std::int64_t row_tile = kGroups * rows, col_tile = kLanes * cols;
      const std::int64_t floats = operands * chunk * (row_tile + kPad) + operands * chunk * (col_tile + kPad) +
                                  score_tiles * row_tile * (col_tile + kPad);
      const std::int64_t registers = accumulators * rows * dim_cols + products * rows * cols;
      const bool fits = 4 * floats <= budget && (registers <= kRegisterFloats || rows == 1);
      if (fits && rows * cols > best.rows * best.cols) best = Tiles{rows, cols, chunk, chunks, 4 * floats, budget};
    }
  }
  return best;
}

// The sizes and tiles at the top of a kernel; `row_tile` and `col_tile` name the block's tiles
// (kQueryTile and kKeyTile, or the other way round in dK/dV).
void write_constants(CodeWriter& k, const Node& n, const AttentionInputs& a, const Tiles& t, const std::string& row_tile,
                     const std::string& col_tile) {
  write_attention_sizes(k, n, a);
  k.line("// TUNE: tiles for this head_dim, chosen at generation time (" + std::to_string(t.shared_bytes) +
         " bytes of dynamic shared memory,");
  k.line("// at most " + std::to_string(t.budget) + "; few enough registers not to spill). Thread (group, lane) "
         "holds rows group * kRows + r");
  k.line("// of the block's tile and columns lane * kCols + c of the other side's: adjacent floats, read as");
  k.line("// 16-byte loads. kPad floats after each shared row keep the rows 16-byte aligned.");
  k.line("constexpr int kLanes = " + std::to_string(kLanes) + ", kGroups = " + std::to_string(kGroups) +
         ", kBlockThreads = kLanes * kGroups;");
  k.line("constexpr int kRows = " + std::to_string(t.rows) + ", " + row_tile + " = kGroups * kRows;");
  k.line("constexpr int kCols = " + std::to_string(t.cols) + ", " + col_tile + " = kLanes * kCols;");
  k.line("constexpr int kChunk = " + std::to_string(t.chunk) + ", kChunks = " + std::to_string(t.chunks) +
         ";  // head_dim columns in shared memory at a time (zeros past kD)");
  k.line("constexpr int kChunkCols = kChunk / kLanes, kDimCols = kChunks * kChunkCols;  // a thread's head_dim columns");
  k.line("constexpr int kPad = " + std::to_string(kPad) + ";");
  k.line("const int group = threadIdx.x / kLanes, lane = threadIdx.x % kLanes;");
}

// A tile to stage: rows [row0, row0 + tile) of src, rows `stride` floats apart and `rows` of them
// (kTq or kTk), into dst.
struct Stage {
  std::string dst, src, stride, row0, tile, rows;
};

// Stages the tile's head-dim columns [c0, c0 + kChunk) transposed into dst[kChunk][tile + kPad],
// zeros past the rows and D. Adjacent threads read adjacent floats of a row (coalesced); their
// transposed stores meet up to 4 to a bank (TUNE: a swizzle would avoid it), paid once a tile
// for the 16-byte loads of every product.
void write_stage(CodeWriter& k, const Stage& t) {
  k.open("for (int x = threadIdx.x; x < " + t.tile + " * kChunk; x += kBlockThreads)");
  k.line("const int r = x / kChunk, d = x % kChunk;");
  k.line(t.dst + "[d][r] = " + t.row0 + " + r < " + t.rows + " && c0 + d < kD ? " + t.src + "[(" + t.row0 + " + r) * " +
         t.stride + " + c0 + d] : 0.0f;");
  k.close();
}

// acc[r][c] += row_operand[d][row r] * col_operand[d][column c] over the chunk's d: per d, a
// thread loads kRows + kCols floats a product for kRows * kCols FMAs. The products are fmaf, as
// cuBLASLt's and the CPU's sgemm (the program is built with --fmad=false, which would split them).
struct Product {
  std::string acc, row_operand, col_operand;
};
void write_products(CodeWriter& k, const std::vector<Product>& products) {
  k.open("for (int d = 0; d < kChunk; ++d)");
  std::string decl = "float";
  for (const Product& p : products)
    decl += std::string(&p == &products.front() ? " " : ", ") + p.row_operand + "_r[kRows], " + p.col_operand +
            "_c[kCols]";
  k.line(decl + ";");
  k.line("#pragma unroll");
  k.open("for (int r = 0; r < kRows; ++r)");
  for (const Product& p : products) k.line(p.row_operand + "_r[r] = " + p.row_operand + "[d][group * kRows + r];");
  k.close();
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kCols; ++c)");
  for (const Product& p : products) k.line(p.col_operand + "_c[c] = " + p.col_operand + "[d][lane * kCols + c];");
  k.close();
  k.line("#pragma unroll");
  k.open("for (int r = 0; r < kRows; ++r)");
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kCols; ++c)");
  for (const Product& p : products)
    k.line(p.acc + "[r][c] = fmaf(" + p.row_operand + "_r[r], " + p.col_operand + "_c[c], " + p.acc + "[r][c]);");
  k.close();
  k.close();
  k.close();
}

// The score tiles of one step of a block's walk, a chunk of head_dim at a time: stage `kept`
// (the block's own rows: once, on its `first_step`, when head_dim is one chunk) and `walked` (the
// tile the walk is at), then the products.
void write_score_chunks(CodeWriter& k, const std::vector<Stage>& kept, const std::string& first_step,
                        const std::vector<Stage>& walked, const std::vector<Product>& products) {
  k.line("#pragma unroll");
  k.open("for (int chunk = 0; chunk < kChunks; ++chunk)");
  k.line("const int c0 = chunk * kChunk;");
  k.line("// The block's own rows stay staged when head_dim is one chunk.");
  k.open("if (kChunks > 1 || " + first_step + ")");
  for (const Stage& t : kept) write_stage(k, t);
  k.close();
  for (const Stage& t : walked) write_stage(k, t);
  k.line("__syncthreads();");
  write_products(k, products);
  k.line("__syncthreads();");
  k.close();
}

// acc[r][this chunk's columns] += weights[row r][j] * operand[column][j] over the column tile's j
// (operand staged transposed: its column d is row d of the stage), j in ascending order. Four j
// at a time, so that both operands are 16-byte loads: per 4 j a thread loads kRows + kChunkCols
// of them for 4 * kRows * kChunkCols FMAs. The weights (p, ds) keep a thread's row r at
// kGroups * r + group, so that the four groups of a warp read four banks apart (with rows
// group * kRows + r, kRows rows of kTile + 4 floats apart, they met in one bank for kRows = 8).
struct Accumulate {
  std::string acc, weights, operand;
};
void write_accumulate(CodeWriter& k, const std::string& col_tile, const std::vector<Accumulate>& terms) {
  k.open("for (int j = 0; j < " + col_tile + "; j += 4)");
  std::string decl = "float";
  for (const Accumulate& a : terms)
    decl += std::string(&a == &terms.front() ? " " : ", ") + a.weights + "_r[kRows][4]";
  k.line(decl + ";");
  k.line("#pragma unroll");
  k.open("for (int r = 0; r < kRows; ++r)");
  for (const Accumulate& a : terms) {
    k.line("#pragma unroll");
    k.line("for (int u = 0; u < 4; ++u) " + a.weights + "_r[r][u] = " + a.weights + "[kGroups * r + group][j + u];");
  }
  k.close();
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kChunkCols; ++c)");
  for (const Accumulate& a : terms) {
    k.line("float " + a.operand + "_j[4];");
    k.line("#pragma unroll");
    k.line("for (int u = 0; u < 4; ++u) " + a.operand + "_j[u] = " + a.operand + "[lane + kLanes * c][j + u];");
  }
  k.line("#pragma unroll");
  k.open("for (int r = 0; r < kRows; ++r)");
  k.line("#pragma unroll");
  k.open("for (int u = 0; u < 4; ++u)");
  for (const Accumulate& a : terms)
    k.line(a.acc + "[r][chunk * kChunkCols + c] = fmaf(" + a.weights + "_r[r][u], " + a.operand + "_j[u], " + a.acc +
           "[r][chunk * kChunkCols + c]);");
  k.close();
  k.close();
  k.close();
  k.close();
}

// The accumulators' update of one step (`what`), a chunk of head_dim at a time: `stage` the
// chunk's operands, and `restage` those that the scores staged (with one chunk, still there).
void write_accumulate_chunks(CodeWriter& k, const std::string& what, const std::vector<Stage>& stage,
                             const std::vector<Stage>& restage, const std::string& col_tile,
                             const std::vector<Accumulate>& terms) {
  k.line("#pragma unroll");
  k.open("for (int chunk = 0; chunk < kChunks; ++chunk)");
  k.line("// " + what + ", a chunk of head_dim at a time.");
  k.line("const int c0 = chunk * kChunk;");
  for (const Stage& t : stage) write_stage(k, t);
  if (!restage.empty()) {
    k.line("// With one chunk, still staged from the scores.");
    k.open("if (kChunks > 1)");
    for (const Stage& t : restage) write_stage(k, t);
    k.close();
  }
  std::string weights;
  for (const Accumulate& a : terms) weights += (weights.empty() ? "" : ", ") + a.weights;
  k.line("__syncthreads();  // and " + weights + (terms.size() > 1 ? " are" : " is") + " written");
  write_accumulate(k, col_tile, terms);
  k.line("__syncthreads();");
  k.close();
}

// Writes a thread's accumulator rows acc[r] (row row0 + group * kRows + r, under `rows`) as
// `dst[row * stride + d] = acc[r][..] <scale>` over the head-dim columns it holds.
void write_rows_out(CodeWriter& k, const std::string& row0, const std::string& rows, const std::string& dst,
                    const std::string& stride, const std::string& value) {
  k.line("#pragma unroll");
  k.open("for (int r = 0; r < kRows; ++r)");
  k.line("const int row = " + row0 + " + group * kRows + r;");
  k.line("if (row >= " + rows + ") continue;");
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kDimCols; ++c)");
  k.line("const int d = c / kChunkCols * kChunk + lane + kLanes * (c % kChunkCols);");
  k.line("if (d < kD) " + dst + "[row * " + stride + " + d] = " + value + ";");
  k.close();
  k.close();
}

// Opens a backward kernel (the dK/dV or the dQ one): its signature and constants. `grads` is where
// it writes: dqkv's or dkey_value's rows (dK/dV), dqkv's or dquery's (dQ).
void open_backward_kernel(CodeWriter& k, const Node& n, const AttentionInputs& a, const std::string& name, const Tiles& t,
                          const std::string& row_tile, const std::string& col_tile) {
  k.open("__global__ void __launch_bounds__(" + std::to_string(kBlockThreads) + ", " + std::to_string(kBlocksPerSM) + ") " + name +
         "(float* __restrict__ grads, const float* __restrict__ dout, const float* __restrict__ queries, "
         "const float* __restrict__ keys, const float* __restrict__ lse, const float* __restrict__ delta, float scale" +
         attention_dropout_params(n, false) + attention_mask_param(n) + ")");
  write_constants(k, n, a, t, row_tile, col_tile);
}

// A backward kernel's pointers to head h of sample b.
void write_backward_pointers(CodeWriter& k, const Node& n) {
  write_head_pointers(k, {"const float* dout_head = dout"}, {"const float* lse_head = lse", "const float* delta_head = delta"});
  write_attention_mask_pointer(k, n);
}

// The launch of a kernel over tiles of `rows` (kTq or kTk) x heads x samples (a block each, on the
// grid's x; see write_block_place) with its tiles' shared memory; over 48 KB, prepare_kernels()
// lets the kernel have it. The block count is at most n * rows * heads, so under check_index_sizes' limit.
void write_launch(CudaEmit& e, const std::string& kernel, const std::string& rows, const Tiles& t,
                  const std::vector<std::string>& args) {
  const std::int64_t row_tile = kGroups * t.rows;
  const std::string tile = std::to_string(row_tile), bytes = std::to_string(t.shared_bytes);
  emit_launch(e.body, kernel, "(" + rows + " + " + std::to_string(row_tile - 1) + ") / " + tile + " * kHeads * n",
              std::to_string(kBlockThreads), args, bytes);
  // A GPU that allows a block less is refused there by name (runtime: ltrt/cuda/context.cuh).
  if (t.shared_bytes > kDefaultShared)
    e.prepare.line("ltrt::cuda::allow_shared_memory(" + kernel + ", " + bytes + ", \"" + kernel + "\");");
}


}  // namespace

// The block's place in the grid, which is one dimension (x: up to 2^31 - 1 blocks, where y and z
// allow 65535, fewer than a large batch's samples): `block_tile` (of `row_tile` rows of T), head h
// and sample b, tiles fastest, as a grid of (tiles, heads, samples) would run them.
void write_block_place(CodeWriter& k, const std::string& row_tile, const std::string& rows) {
  k.line("// The grid is one dimension (y and z allow 65535 blocks): this tile of " + rows + " rows, head and sample.");
  k.line("constexpr int kRowTiles = (" + rows + " + " + row_tile + " - 1) / " + row_tile + ";");
  k.line("const int block_tile = blockIdx.x % kRowTiles, h = blockIdx.x / kRowTiles % kHeads, b = blockIdx.x / "
         "kRowTiles / kHeads;");
}

void write_head_pointers(CodeWriter& k, const std::vector<std::string>& rows_e, const std::vector<std::string>& per_query) {
  k.line("const float* q = queries + static_cast<std::int64_t>(b) * kTq * kQRow + h * kD;");
  k.line("const float* keys_k = keys + static_cast<std::int64_t>(b) * kTk * kKVRow + kKeyColumn + h * kD;");
  k.line("const float* keys_v = keys_k + kE;");
  for (const std::string& p : rows_e) k.line(p + " + static_cast<std::int64_t>(b) * kTq * kE + h * kD;");
  for (const std::string& p : per_query) k.line(p + " + (static_cast<std::int64_t>(b) * kHeads + h) * kTq;");
}

void write_attention_host_sizes(CodeWriter& w, const Node& n, const Value& qkv, bool with_scale) {
  w.line("constexpr int kT = " + std::to_string(qkv.shape[1]) + ", kHeads = " +
         std::to_string(attr_int(n, "num_heads")) + ";  // sequence length, num_heads");
  if (with_scale) write_attention_scale(w, n);
}

void write_attention_host_sizes(CodeWriter& w, const Node& n, const AttentionInputs& a, bool key_rows) {
  if (key_rows)
    w.line("constexpr int kTq = " + std::to_string(a.tq) + ", kTk = " + std::to_string(a.tk) + ", kHeads = " +
           std::to_string(attr_int(n, "num_heads")) + ";  // query rows, key rows, num_heads");
  else
    w.line("constexpr int kTq = " + std::to_string(a.tq) + ", kHeads = " + std::to_string(attr_int(n, "num_heads")) +
           ";  // query rows, num_heads");
  write_attention_scale(w, n);
}

AttentionInputs attention_inputs(const Node& n, const Graph& g) {
  // Forward: (qkv) or (query, key_value); backward: (dout, qkv, ...) or (dout, query, key_value, ...).
  const size_t first = n.op == "attention" ? 0 : 1;
  AttentionInputs a;
  a.cross = n.attrs.count("cross") > 0;
  a.tq = g.value(n.inputs.at(first)).shape.at(1);
  a.tk = a.cross ? g.value(n.inputs.at(first + 1)).shape.at(1) : a.tq;
  return a;
}

void write_attention_dropout_constants(CodeWriter& w, const Node& n) {
  if (!n.attrs.count("dropout")) return;
  const double p = attr_float(n, "dropout");
  w.line("constexpr float kDropP = " + float_literal(p) + ";  // dropout of the probabilities");
  w.line(dropout_scale_line("kDropScale", p));
  w.line("constexpr std::uint32_t kDropStream = " + std::to_string(dropout_stream(n.layer)) +
         "u;  // this layer's own random numbers");
}

std::string attention_dropped(const std::string& value, const std::string& i, const std::string& j) {
  return "(ltrt::counter_uniform(seed, kDropStream, ((static_cast<std::uint64_t>(b) * kHeads + h) * kTq + " + i +
         ") * kTk + " + j + ") >= kDropP ? " + value + " * kDropScale : 0.0f)";
}

std::string attention_dropout_params(const Node& n, bool forward) {
  if (!n.attrs.count("dropout")) return "";
  return std::string(", const ltrt::cuda::StepScalars* __restrict__ scalars") + (forward ? ", bool training" : "");
}

std::vector<std::string> attention_dropout_args(const Node& n, bool forward) {
  if (!n.attrs.count("dropout")) return {};
  if (forward) return {"ctx.scalars", "training"};
  return {"ctx.scalars"};
}

void write_attention_dropout_seed(CodeWriter& k, const Node& n, bool forward) {
  if (!n.attrs.count("dropout")) return;
  write_attention_dropout_constants(k, n);
  k.line(forward ? "const std::uint64_t seed = training ? scalars->dropout_seed : 0;  // the step's dropout masks"
                 : "const std::uint64_t seed = scalars->dropout_seed;  // the forward's dropout masks");
}

std::string attention_mask_param(const Node& n) {
  return n.attrs.count("key_padding_mask") ? ", const float* __restrict__ mask" : "";
}

void add_attention_mask_arg(const Node& n, std::vector<std::string>& args) {
  if (n.attrs.count("key_padding_mask")) args.push_back("mask");
}

void write_attention_mask_pointer(CodeWriter& k, const Node& n) {
  if (n.attrs.count("key_padding_mask"))
    k.line("const float* key_mask = mask + static_cast<std::int64_t>(b) * kTk;  // the sample's key padding mask");
}

std::string attention_masked_score(const Node& n, const std::string& scaled, const std::string& j) {
  return n.attrs.count("key_padding_mask") ? scaled + " + key_mask[" + j + "]" : scaled;
}

void write_attention_scale(CodeWriter& w, const Node& n) {
  // torch's sdp::calculate_scale: 1 / sqrt(head_dim) in double, then float (1.0f / sqrtf differs
  // by an ulp for some head sizes, e.g. 24 and 96).
  const double d = static_cast<double>(attr_int(n, "embed_dim") / attr_int(n, "num_heads"));
  w.line("constexpr float scale = " + float_literal(static_cast<float>(1.0 / std::sqrt(d))) + ";  // 1 / sqrt(head_dim)");
}

// A tile in the block's dynamic shared memory: `rows` x `cols` floats (cols a multiple of 4).

// The kernel's tiles, one after another in its dynamic shared memory (each 16-byte aligned: its
// size is a multiple of 4 floats), as 2-D arrays; `bytes` is what the launch gives (checked at
// compile time).
void write_shared_tiles(CodeWriter& k, const std::vector<SharedTile>& tiles, std::int64_t bytes) {
  k.line("extern __shared__ __align__(16) float shared[];  // the launch's dynamic shared memory");
  k.line("float* tile = shared;");
  std::string total;
  for (const SharedTile& t : tiles) {
    const std::string size = t.rows + " * (" + t.cols + ")";
    k.line("float(*" + t.name + ")[" + t.cols + "] = reinterpret_cast<float(*)[" + t.cols + "]>(tile);  // " + t.comment);
    if (&t != &tiles.back()) k.line("tile += " + size + ";");
    total += (total.empty() ? "" : " + ") + size;
  }
  k.line("static_assert((" + total + ") * sizeof(float) == " + std::to_string(bytes) +
         ", \"the tiles fill the launch's shared memory\");");
}

void write_attention_sizes(CodeWriter& w, const Node& n, const AttentionInputs& a) {
  const std::int64_t e = attr_int(n, "embed_dim"), h = attr_int(n, "num_heads");
  if (a.cross)
    w.line("constexpr int kTq = " + std::to_string(a.tq) + ", kTk = " + std::to_string(a.tk) +
           ";  // query rows, and key and value rows, a sample");
  else
    w.line("constexpr int kTq = " + std::to_string(a.tq) + ", kTk = kTq;  // sequence length (queries and keys alike)");
  w.line("constexpr int kE = " + std::to_string(e) + ", kHeads = " + std::to_string(h) +
         ", kD = " + std::to_string(e / h) + ";  // embed_dim, num_heads, head_dim");
  if (a.cross)
    w.line("constexpr int kQRow = kE, kKVRow = 2 * kE, kKeyColumn = 0;  // q rows of query; k | v rows of key_value");
  else
    w.line("constexpr int kQRow = 3 * kE, kKVRow = 3 * kE, kKeyColumn = kE;  // q | k | v rows of qkv");
  w.line(std::string("constexpr bool kCausal = ") + (attr_bool(n, "is_causal") ? "true" : "false") +
         ";  // query i sees keys j <= i");
}

void write_attention_sizes(CodeWriter& w, const Node& n, std::int64_t t) {
  const std::int64_t e = attr_int(n, "embed_dim"), h = attr_int(n, "num_heads");
  w.line("constexpr int kT = " + std::to_string(t) + ";  // sequence length");
  w.line("constexpr int kE = " + std::to_string(e) + ", kHeads = " + std::to_string(h) +
         ", kD = " + std::to_string(e / h) + ";  // embed_dim, num_heads, head_dim");
  w.line(std::string("constexpr bool kCausal = ") + (attr_bool(n, "is_causal") ? "true" : "false") +
         ";  // query i sees keys j <= i");
}

void emit_flash_attention_forward(CudaEmit& e, const Node& n, const Graph& g) {
  if (mma_attention_applies(e, n)) return emit_flash_attention_forward_mma(e, n, g);
  const AttentionInputs a = attention_inputs(n, g);
  const std::int64_t d = attr_int(n, "embed_dim") / attr_int(n, "num_heads");
  const Tiles t = choose_tiles(d, 1, 1, 1, 1, e.shared_budget);
  CodeWriter& k = e.kernels;
  k.line();
  k.line("// Fused attention (FlashAttention-2's forward): a block per (tile of query rows, head, sample) walks");
  k.line("// the key tiles its rows see. Per row it keeps the running max m of the scores, the sum l of");
  k.line("// exp(s - m) and o = sum_j exp(s_j - m) v_j, rescaled when m grows, so the T x T scores never");
  k.line("// leave the block. It writes out = o / l and lse = m + log(l), from which the backward");
  k.line("// recomputes the probabilities.");
  k.open("__global__ void __launch_bounds__(" + std::to_string(kBlockThreads) + ", " + std::to_string(kBlocksPerSM) + ") " + e.fn +
         "_kernel(float* __restrict__ out, float* __restrict__ lse, const float* __restrict__ queries, "
         "const float* __restrict__ keys, float scale" + attention_dropout_params(n, true) + attention_mask_param(n) + ")");
  write_constants(k, n, a, t, "kQueryTile", "kKeyTile");
  write_shared_tiles(k,
                     {{"q_t", "kChunk", "kQueryTile + kPad", "q^T of the block's rows (a chunk of head_dim)"},
                      {"kv_t", "kChunk", "kKeyTile + kPad", "k^T of a key tile, then its v^T"},
                      {"p", "kQueryTile", "kKeyTile + kPad", "exp(s - m) of the key tile (thread rows r-major)"}},
                     t.shared_bytes);
  write_block_place(k, "kQueryTile", "kTq");
  k.line("const int i0 = (kRowTiles - 1 - block_tile) * kQueryTile;  // the longest causal rows start first");
  write_head_pointers(k, {"float* out_head = out"}, {"float* lse_head = lse"});
  write_attention_mask_pointer(k, n);
  write_attention_dropout_seed(k, n, true);
  k.line("float o[kRows][kDimCols] = {};");
  k.line("float m[kRows], l[kRows];");
  k.line("#pragma unroll");
  k.open("for (int r = 0; r < kRows; ++r)");
  k.line("m[r] = -INFINITY;");
  k.line("l[r] = 0.0f;");
  k.close();
  k.line("const int key_end = kCausal ? (i0 + kQueryTile < kTk ? i0 + kQueryTile : kTk) : kTk;  // key tiles past the diagonal: all masked");
  k.open("for (int j0 = 0; j0 < key_end; j0 += kKeyTile)");
  k.line("float s[kRows][kCols] = {};");
  write_score_chunks(k, {{"q_t", "q", "kQRow", "i0", "kQueryTile", "kTq"}}, "j0 == 0",
                     {{"kv_t", "keys_k", "kKVRow", "j0", "kKeyTile", "kTk"}}, {{"s", "q_t", "kv_t"}});
  k.line("#pragma unroll");
  k.open("for (int r = 0; r < kRows; ++r)");
  k.line("// Scale and mask the row's scores, then fold them into its m and l (the CPU's softmax, online).");
  k.line("const int i = i0 + group * kRows + r;");
  k.line("float tile_max = -INFINITY;");
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kCols; ++c)");
  k.line("const int j = j0 + lane * kCols + c;");
  k.line("s[r][c] = j < kTk && (!kCausal || j <= i) ? " + attention_masked_score(n, "s[r][c] * scale", "j") +
         " : -INFINITY;  // masked: -inf before the softmax");
  k.line("tile_max = fmaxf(tile_max, s[r][c]);");
  k.close();
  k.line("for (int lanes = kLanes / 2; lanes > 0; lanes /= 2) tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, lanes));");
  const bool masked = n.attrs.count("key_padding_mask") > 0;
  if (masked) {
    k.line("const float m_new = fmaxf(m[r], tile_max);");
    k.line("const float m_ref = m_new == -INFINITY ? 0.0f : m_new;  // no key yet (all padded): exp(-inf) = 0");
  } else {
    k.line("const float m_new = fmaxf(m[r], tile_max);  // finite: every row sees key 0 in the first tile");
  }
  const std::string m_ref = masked ? "m_ref" : "m_new";
  k.line("const float rescale = ltrt::exp_vec(m[r] - " + m_ref + ");  // 0 on the first tile");
  k.line("float sum = 0.0f;");
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kCols; ++c)");
  k.line("const float e = ltrt::exp_vec(s[r][c] - " + m_ref + ");  // 0 where masked");
  if (n.attrs.count("dropout"))  // o takes the dropped probabilities, l the softmax's sum
    k.line("p[kGroups * r + group][lane * kCols + c] = training ? " +
           attention_dropped("e", "i", "j0 + lane * kCols + c") + " : e;");
  else
    k.line("p[kGroups * r + group][lane * kCols + c] = e;");
  k.line("sum += e;");
  k.close();
  k.line("for (int lanes = kLanes / 2; lanes > 0; lanes /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, lanes);");
  k.line("l[r] = l[r] * rescale + sum;");
  k.line("m[r] = m_new;");
  k.line("#pragma unroll");
  k.line("for (int c = 0; c < kDimCols; ++c) o[r][c] *= rescale;");
  k.close();
  write_accumulate_chunks(k, "o += p v", {{"kv_t", "keys_v", "kKVRow", "j0", "kKeyTile", "kTk"}}, {}, "kKeyTile",
                          {{"o", "p", "kv_t"}});
  k.close();
  if (masked) {  // a row without keys: zeros, as torch's, and lse = inf so that the backward's p is 0
    write_rows_out(k, "i0", "kTq", "out_head", "kE", "l[r] == 0.0f ? 0.0f : o[r][c] / l[r]");
  } else {
    write_rows_out(k, "i0", "kTq", "out_head", "kE", "o[r][c] / l[r]");  // the CPU's p / sum, then p v
  }
  k.line("#pragma unroll");
  k.open("for (int r = 0; r < kRows; ++r)");
  k.line("const int i = i0 + group * kRows + r;");
  if (masked)
    k.line("if (lane == 0 && i < kTq) lse_head[i] = l[r] == 0.0f ? INFINITY : m[r] + logf(l[r]);  // for the backward");
  else
    k.line("if (lane == 0 && i < kTq) lse_head[i] = m[r] + logf(l[r]);  // for the backward");
  k.close();
  k.close();

  CodeWriter& w = e.body;
  write_attention_host_sizes(w, n, a, false);
  w.line("// scores is the CPU program's T x T scratch: the fused kernel needs none.");
  std::vector<std::string> args{"out", "lse", a.queries(), a.keys(), "scale"};
  for (const std::string& x : attention_dropout_args(n, true)) args.push_back(x);
  add_attention_mask_arg(n, args);
  write_launch(e, e.fn + "_kernel", "kTq", t, args);
}

void emit_attention_delta_kernel(CudaEmit& e, const Node& n, std::int64_t tq) {
  const std::int64_t d = attr_int(n, "embed_dim") / attr_int(n, "num_heads");
  CodeWriter& k = e.kernels;
  k.line();
  k.line("// delta_i = dout_i . out_i over a head's columns: sum_j p_ij dp_ij, the row term of the softmax");
  k.line("// backward. A thread per (sample, head, query), in delta's order.");
  open_element_kernel(k, e.fn + "_delta_kernel",
                      {"float* __restrict__ delta", "const float* __restrict__ dout", "const float* __restrict__ out"},
                      [&](CodeWriter& c) {
                        c.line("constexpr int kT = " + std::to_string(tq) + ";  // query rows a sample");
                        c.line("constexpr int kE = " + std::to_string(attr_int(n, "embed_dim")) + ", kHeads = " +
                               std::to_string(attr_int(n, "num_heads")) + ", kD = " + std::to_string(d) +
                               ";  // embed_dim, num_heads, head_dim");
                      });
  k.line("const int b = i / (kHeads * kT), h = i / kT % kHeads, t = i % kT;");
  k.line("const std::int64_t row = (static_cast<std::int64_t>(b) * kT + t) * kE + h * kD;");
  k.line("float sum = 0.0f;");
  k.line("for (int d = 0; d < kD; ++d) sum += dout[row + d] * out[row + d];");
  k.line("delta[i] = sum;");
  k.close();
}

void emit_flash_attention_backward(CudaEmit& e, const Node& n, const Graph& g) {
  const AttentionInputs a = attention_inputs(n, g);
  const std::int64_t d = attr_int(n, "embed_dim") / attr_int(n, "num_heads");
  CodeWriter& k = e.kernels;
  emit_attention_delta_kernel(e, n, a.tq);

  if (mma_attention_applies(e, n)) {
    write_attention_host_sizes(e.body, n, a, true);
    e.body.line("// scratch is the CPU program's T x T buffers: the fused kernels need none.");
    emit_count_launch(e.body, e.fn + "_delta_kernel", "n * kHeads * kTq", {"delta", "dout", "out"});
    return emit_flash_attention_backward_mma(e, n, g);
  }
  const Tiles kv = choose_tiles(d, 2, 2, 2, 2, e.shared_budget);
  k.line();
  k.line("// dk_j = sum_i ds_ij q_i and dv_j = sum_i p_ij dout_i: a block per (tile of key rows, head, sample)");
  k.line("// walks the query tiles that see its keys and recomputes p_ij = exp(s_ij - lse_i) and");
  k.line("// ds_ij = p_ij (dp_ij - delta_i) / sqrt(D), dp_ij = dout_i . v_j. Each dk and dv element has one");
  k.line("// writer, summed in a fixed order: no atomics, the same result every run.");
  open_backward_kernel(k, n, a, e.fn + "_dkdv_kernel", kv, "kKeyTile", "kQueryTile");
  write_shared_tiles(k,
                     {{"k_t", "kChunk", "kKeyTile + kPad", "the block's keys, transposed"},
                      {"v_t", "kChunk", "kKeyTile + kPad", "and values"},
                      {"q_t", "kChunk", "kQueryTile + kPad", "a query tile's queries, transposed"},
                      {"dout_t", "kChunk", "kQueryTile + kPad", "and output gradients"},
                      {"p", "kKeyTile", "kQueryTile + kPad", "p^T of the tiles (thread rows r-major)"},
                      {"ds", "kKeyTile", "kQueryTile + kPad", "ds^T of the tiles (thread rows r-major)"}},
                     kv.shared_bytes);
  write_block_place(k, "kKeyTile", "kTk");
  k.line("const int j0 = block_tile * kKeyTile;  // the first keys see the most queries and start first");
  write_backward_pointers(k, n);
  k.line("float* dk_head = grads + static_cast<std::int64_t>(b) * kTk * kKVRow + kKeyColumn + h * kD;");
  k.line("float* dv_head = dk_head + kE;");
  write_attention_dropout_seed(k, n, false);
  k.line("float dk[kRows][kDimCols] = {}, dv[kRows][kDimCols] = {};");
  k.line("const int first = kCausal ? j0 / kQueryTile * kQueryTile : 0;  // query tiles before it see none of the keys");
  k.open("for (int i0 = first; i0 < kTq; i0 += kQueryTile)");
  k.line("float s[kRows][kCols] = {}, dp[kRows][kCols] = {};  // of (key row, query column)");
  const std::vector<Stage> query_tile{{"q_t", "q", "kQRow", "i0", "kQueryTile", "kTq"},
                                      {"dout_t", "dout_head", "kE", "i0", "kQueryTile", "kTq"}};
  const std::vector<Stage> key_tile{{"k_t", "keys_k", "kKVRow", "j0", "kKeyTile", "kTk"},
                                    {"v_t", "keys_v", "kKVRow", "j0", "kKeyTile", "kTk"}};
  write_score_chunks(k, key_tile, "i0 == first", query_tile, {{"s", "k_t", "q_t"}, {"dp", "v_t", "dout_t"}});
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kCols; ++c)");
  k.line("// p and ds of query column i (the CPU's formulas; 0 where masked or past the rows).");
  k.line("const int i = i0 + lane * kCols + c;");
  k.line("const float lse_i = i < kTq ? lse_head[i] : 0.0f, delta_i = i < kTq ? delta_head[i] : 0.0f;");
  k.line("#pragma unroll");
  k.open("for (int r = 0; r < kRows; ++r)");
  k.line("const int j = j0 + group * kRows + r;");
  if (n.attrs.count("key_padding_mask"))  // (key rows past kTk read no mask)
    k.line("const float p_ij = i < kTq && j < kTk && (!kCausal || j <= i) ? ltrt::exp_vec(" +
           attention_masked_score(n, "s[r][c] * scale", "j") + " - lse_i) : 0.0f;");
  else
    k.line("const float p_ij = i < kTq && (!kCausal || j <= i) ? ltrt::exp_vec(s[r][c] * scale - lse_i) : 0.0f;");
  if (n.attrs.count("dropout")) {  // dv takes the dropped probabilities; ds = p (dp mask / (1 - p) - delta)
    k.line("p[kGroups * r + group][lane * kCols + c] = " + attention_dropped("p_ij", "i", "j") + ";");
    k.line("ds[kGroups * r + group][lane * kCols + c] = p_ij * (" + attention_dropped("dp[r][c]", "i", "j") +
           " - delta_i) * scale;");
  } else {
    k.line("p[kGroups * r + group][lane * kCols + c] = p_ij;");
    k.line("ds[kGroups * r + group][lane * kCols + c] = p_ij * (dp[r][c] - delta_i) * scale;");
  }
  k.close();
  k.close();
  write_accumulate_chunks(k, "dv += p^T dout, dk += ds^T q", {}, query_tile, "kQueryTile",
                          {{"dv", "p", "dout_t"}, {"dk", "ds", "q_t"}});
  k.close();
  write_rows_out(k, "j0", "kTk", "dk_head", "kKVRow", "dk[r][c]");
  write_rows_out(k, "j0", "kTk", "dv_head", "kKVRow", "dv[r][c]");
  k.close();

  const Tiles q = choose_tiles(d, 2, 1, 2, 1, e.shared_budget);
  k.line();
  k.line("// dq_i = sum_j ds_ij k_j: a block per (tile of query rows, head, sample) walks the key tiles its");
  k.line("// rows see and recomputes ds as the dk/dv kernel does. One writer per element, no atomics.");
  open_backward_kernel(k, n, a, e.fn + "_dq_kernel", q, "kQueryTile", "kKeyTile");
  write_shared_tiles(k,
                     {{"q_t", "kChunk", "kQueryTile + kPad", "the block's queries, transposed"},
                      {"dout_t", "kChunk", "kQueryTile + kPad", "and output gradients"},
                      {"k_t", "kChunk", "kKeyTile + kPad", "a key tile's keys, transposed"},
                      {"v_t", "kChunk", "kKeyTile + kPad", "and values"},
                      {"ds", "kQueryTile", "kKeyTile + kPad", "ds of the tiles (thread rows r-major)"}},
                     q.shared_bytes);
  write_block_place(k, "kQueryTile", "kTq");
  k.line("const int i0 = (kRowTiles - 1 - block_tile) * kQueryTile;  // the longest causal rows start first");
  write_backward_pointers(k, n);
  k.line("float* dq_head = grads + static_cast<std::int64_t>(b) * kTq * kQRow + h * kD;");
  write_attention_dropout_seed(k, n, false);
  k.line("float lse_i[kRows], delta_i[kRows];");
  k.line("#pragma unroll");
  k.open("for (int r = 0; r < kRows; ++r)");
  k.line("const int i = i0 + group * kRows + r;");
  k.line("lse_i[r] = i < kTq ? lse_head[i] : 0.0f;");
  k.line("delta_i[r] = i < kTq ? delta_head[i] : 0.0f;");
  k.close();
  k.line("float dq_acc[kRows][kDimCols] = {};");
  k.line("const int key_end = kCausal ? (i0 + kQueryTile < kTk ? i0 + kQueryTile : kTk) : kTk;  // key tiles past the diagonal: all masked");
  k.open("for (int j0 = 0; j0 < key_end; j0 += kKeyTile)");
  k.line("float s[kRows][kCols] = {}, dp[kRows][kCols] = {};");
  write_score_chunks(k, query_tile, "j0 == 0", key_tile, {{"s", "q_t", "k_t"}, {"dp", "dout_t", "v_t"}});
  k.line("#pragma unroll");
  k.open("for (int r = 0; r < kRows; ++r)");
  k.line("const int i = i0 + group * kRows + r;");
  k.line("#pragma unroll");
  k.open("for (int c = 0; c < kCols; ++c)");
  k.line("const int j = j0 + lane * kCols + c;");
  k.line("const float p_ij = j < kTk && (!kCausal || j <= i) ? ltrt::exp_vec(" +
         attention_masked_score(n, "s[r][c] * scale", "j") + " - lse_i[r]) : 0.0f;");
  k.line("ds[kGroups * r + group][lane * kCols + c] = p_ij * (" +
         (n.attrs.count("dropout") ? attention_dropped("dp[r][c]", "i", "j") : std::string("dp[r][c]")) +
         " - delta_i[r]) * scale;");
  k.close();
  k.close();
  write_accumulate_chunks(k, "dq += ds k", {}, {key_tile[0]}, "kKeyTile", {{"dq_acc", "ds", "k_t"}});
  k.close();
  write_rows_out(k, "i0", "kTq", "dq_head", "kQRow", "dq_acc[r][c]");
  k.close();

  CodeWriter& w = e.body;
  write_attention_host_sizes(w, n, a, true);
  w.line("// scratch is the CPU program's T x T buffers: the fused kernels need none.");
  emit_count_launch(w, e.fn + "_delta_kernel", "n * kHeads * kTq", {"delta", "dout", "out"});
  w.line("// dq, and dk with dv, come from separate kernels: each gradient element has one writer.");
  std::vector<std::string> dkdv_args{attention_key_grads(a), "dout", a.queries(), a.keys(), "lse", "delta", "scale"};
  std::vector<std::string> dq_args{attention_query_grads(a), "dout", a.queries(), a.keys(), "lse", "delta", "scale"};
  for (const std::string& x : attention_dropout_args(n, false)) {
    dkdv_args.push_back(x);
    dq_args.push_back(x);
  }
  add_attention_mask_arg(n, dkdv_args);
  add_attention_mask_arg(n, dq_args);
  write_launch(e, e.fn + "_dkdv_kernel", "kTk", kv, dkdv_args);
  write_launch(e, e.fn + "_dq_kernel", "kTq", q, dq_args);
}

}  // namespace ltgen
