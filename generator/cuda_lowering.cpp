#include "cuda_lowering.hpp"

#include "autocast.hpp"

namespace ltgen {

void emit_launch(CodeWriter& w, const std::string& kernel, const std::string& blocks, const std::string& threads,
                 const std::vector<std::string>& args, const std::string& shared_bytes) {
  std::string call = kernel + "<<<" + blocks + ", " + threads + ", " + shared_bytes + ", ctx.stream>>>(";
  for (size_t i = 0; i < args.size(); ++i) call += (i ? ", " : "") + args[i];
  w.line(call + ");");
  w.line("LTRT_CUDA_CHECK_LAUNCH(\"" + kernel + "\");");
}

std::string OutputStore::store(const std::string& value) const {
  return bits ? std::string(autocast_bits16()) + "(" + value + ")" : value;
}

OutputStore output_store(CudaEmit& e, int value, const std::string& name) {
  OutputStore s;
  s.bits = e.is_stored16(value);
  if (s.bits) e.body.line("// " + name + " holds " + autocast_dtype_name() + " bits: only 16-bit GEMMs read it");
  return s;
}

void emit_elementwise_kernel(CudaEmit& e, const std::string& kernel, const std::vector<KernelParam>& params,
                             const std::string& count, const std::vector<std::string>& body,
                             const std::function<void(CodeWriter&)>& constants) {
  std::string sig = "__global__ void " + kernel + "(";
  for (const KernelParam& p : params) sig += p.decl + ", ";
  e.kernels.line();
  e.kernels.open(sig + "int count)");
  if (constants) constants(e.kernels);
  e.kernels.line("const int i = blockIdx.x * blockDim.x + threadIdx.x;");
  e.kernels.line("if (i >= count) return;");
  for (const std::string& l : body) e.kernels.line(l);
  e.kernels.close();

  e.body.line("const int count = " + count + ";");
  e.body.line("if (count == 0) return;");
  std::vector<std::string> args;
  for (const KernelParam& p : params) args.push_back(p.arg);
  args.push_back("count");
  emit_launch(e.body, kernel, "ltrt::cuda::blocks_for(count, kThreads)", "kThreads", args);
}

void emit_count_launch(CodeWriter& w, const std::string& kernel, const std::string& count,
                       std::vector<std::string> args) {
  w.line("const int count = " + count + ";");
  args.push_back("count");
  emit_launch(w, kernel, "ltrt::cuda::blocks_for(count, kThreads)", "kThreads", args);
}

void open_element_kernel(CodeWriter& k, const std::string& name, const std::vector<std::string>& params,
                         const std::function<void(CodeWriter&)>& constants) {
  std::string sig = "__global__ void " + name + "(";
  for (const std::string& p : params) sig += p + ", ";
  k.open(sig + "int count)");
  constants(k);
  k.line("const int i = blockIdx.x * blockDim.x + threadIdx.x;");
  k.line("if (i >= count) return;");
}

RowSplit split_rows(std::int64_t len) {
  RowSplit s;
  s.len = len;
  s.block = len > RowSplit::kWarpRowMax;
  return s;
}

void open_row(CodeWriter& k, const RowSplit& s, const std::string& row, const std::string& rows, bool reduces) {
  const std::string len = std::to_string(s.len);
  if (s.block) {
    k.line("// TUNE: a block a row (rows of " + len + "; a warp a row up to " + std::to_string(RowSplit::kWarpRowMax) +
           "): thread t reads elements t, t + kRowThreads, ...");
    k.line("constexpr int kRowThreads = kRowBlockThreads;");
    if (reduces) k.line("__shared__ float partial[32];  // a slot per warp for the block's reductions");
    k.line("const int " + row + " = blockIdx.x;");
    k.line("if (" + row + " >= " + rows + ") return;  // the whole block (the grid is the rows)");
    k.line("const int t = threadIdx.x;");
  } else {
    k.line("// TUNE: a warp a row (rows of " + len + "; a block a row over " + std::to_string(RowSplit::kWarpRowMax) +
           "): lane t reads elements t, t + 32, ...");
    k.line("constexpr int kRowThreads = 32;");
    k.line("const int " + row + " = blockIdx.x * kWarpRows + threadIdx.x / kRowThreads;");
    k.line("if (" + row + " >= " + rows + ") return;  // the whole warp, so its shuffles stay complete");
    k.line("const int t = threadIdx.x % kRowThreads;");
  }
}

std::string row_sum(const RowSplit& s, const std::string& var) {
  return s.block ? "ltrt::cuda::block_reduce(" + var + ", partial, 0.0f, ltrt::cuda::Sum())"
                 : "ltrt::cuda::warp_reduce(" + var + ", ltrt::cuda::Sum())";
}

std::string row_max(const RowSplit& s, const std::string& var) {
  return s.block ? "ltrt::cuda::block_reduce(" + var + ", partial, -INFINITY, ltrt::cuda::Max())"
                 : "ltrt::cuda::warp_reduce(" + var + ", ltrt::cuda::Max())";
}

void emit_row_launch(CodeWriter& w, const std::string& kernel, const RowSplit& s, const std::string& rows,
                     const std::vector<std::string>& args) {
  if (s.block)
    emit_launch(w, kernel, rows, "kRowBlockThreads", args);
  else
    emit_launch(w, kernel, "ltrt::cuda::blocks_for(" + rows + ", kWarpRows)", "kWarpRows * 32", args);
}

namespace {
// <name>_kernel's second kernel: <name>_splits_kernel.
std::string splits_kernel(const std::string& kernel) {
  const std::string suffix = "_kernel";
  const bool ends = kernel.size() > suffix.size() && kernel.compare(kernel.size() - suffix.size(), suffix.size(), suffix) == 0;
  return (ends ? kernel.substr(0, kernel.size() - suffix.size()) : kernel) + "_splits_kernel";
}
}  // namespace

void emit_column_sum_kernel(CodeWriter& k, const std::string& kernel, const std::vector<std::string>& params,
                            const std::string& columns, const std::vector<ColumnSum>& sums,
                            const std::function<void(CodeWriter&)>& constants) {
  std::string sig = "__global__ void " + kernel + "(";
  for (const std::string& p : params) sig += p + ", ";
  k.line();
  k.line("// Block (columns, split): 32 columns of the split's rows, 32 lanes of rows a column, then a tree");
  k.line("// over the lanes. One split writes the sums; more write partial sums for " + splits_kernel(kernel) + ".");
  k.open(sig + "float* __restrict__ partials, int rows, int rows_per_split, bool accumulate)");
  constants(k);
  k.line("constexpr int kLanes = 32;  // TUNE: lanes of rows a block sums (blockDim.y; a power of two)");
  k.line("constexpr int kColumnBlocks = (" + columns + " + 31) / 32;");
  for (const ColumnSum& c : sums) k.line("__shared__ float partial_" + c.out + "[kLanes][32];");
  k.line("const int k = blockIdx.x % kColumnBlocks * 32 + threadIdx.x;  // the column");
  k.line("const int split = blockIdx.x / kColumnBlocks, splits = gridDim.x / kColumnBlocks;");
  k.line("const std::int64_t split_end = static_cast<std::int64_t>(split + 1) * rows_per_split;");
  k.line("const int end = split_end < rows ? static_cast<int>(split_end) : rows;");
  for (const ColumnSum& c : sums) k.line("float sum_" + c.out + " = 0.0f;");
  k.open("if (k < " + columns + ")");
  k.open("for (int r = split * rows_per_split + threadIdx.y; r < end; r += kLanes)");
  k.line("const std::int64_t at = static_cast<std::int64_t>(r) * " + columns + " + k;");
  for (const ColumnSum& c : sums) k.line("sum_" + c.out + " += " + c.term + ";");
  k.close();
  k.close();
  for (const ColumnSum& c : sums) k.line("partial_" + c.out + "[threadIdx.y][threadIdx.x] = sum_" + c.out + ";");
  k.line("__syncthreads();");
  k.open("for (int half = kLanes / 2; half > 0; half /= 2)");
  k.open("if (threadIdx.y < half)");
  for (const ColumnSum& c : sums)
    k.line("partial_" + c.out + "[threadIdx.y][threadIdx.x] += partial_" + c.out + "[threadIdx.y + half][threadIdx.x];");
  k.close();
  k.line("__syncthreads();");
  k.close();
  k.line("if (threadIdx.y != 0 || k >= " + columns + ") return;");
  k.open("if (splits == 1)");
  for (const ColumnSum& c : sums)
    k.line(c.out + "[k] = (accumulate ? " + c.out + "[k] : 0.0f) + partial_" + c.out + "[0][threadIdx.x];");
  k.close();
  k.open("else");
  for (size_t j = 0; j < sums.size(); ++j)
    k.line("partials[(" + std::to_string(j) + " * splits + split) * " + columns + " + k] = partial_" + sums[j].out +
           "[0][threadIdx.x];");
  k.close();
  k.close();
  // The splits' partial sums, added in split order (the same bits on every run).
  std::string outs;
  for (const ColumnSum& c : sums) outs += "float* __restrict__ " + c.out + ", ";
  k.line();
  k.line("// A thread per column adds the splits' partial sums of " + kernel + ", in split order.");
  k.open("__global__ void " + splits_kernel(kernel) + "(" + outs + "const float* __restrict__ partials, int splits, "
         "bool accumulate)");
  constants(k);
  k.line("const int k = blockIdx.x * blockDim.x + threadIdx.x;");
  k.line("if (k >= " + columns + ") return;");
  for (size_t j = 0; j < sums.size(); ++j) {
    const std::string total = "total_" + sums[j].out;
    k.line("float " + total + " = 0.0f;");
    k.line("for (int s = 0; s < splits; ++s) " + total + " += partials[(" + std::to_string(j) + " * splits + s) * " +
           columns + " + k];");
    k.line(sums[j].out + "[k] = (accumulate ? " + sums[j].out + "[k] : 0.0f) + " + total + ";");
  }
  k.close();
}

void emit_column_sum_launch(CodeWriter& w, const std::string& kernel, const std::string& columns,
                            const std::vector<std::string>& args, const std::string& rows,
                            const std::vector<std::string>& outs) {
  w.line("// a block per 32 columns and split of the rows: 32 columns x 32 lanes of rows; the rows are split");
  w.line("// when the columns alone would leave most of the GPU idle (partial sums in ctx.workspace)");
  w.line("const int column_splits = ltrt::cuda::column_sum_splits(" + rows + ", (" + columns + " + 31) / 32, " +
         std::to_string(outs.size()) + " * " + columns + ", ctx);");
  w.line("float* column_partials = static_cast<float*>(ctx.workspace);");
  std::vector<std::string> all = args;
  for (const std::string& a : {std::string("column_partials"), rows,
                               "(" + rows + " + column_splits - 1) / column_splits", std::string("accumulate")})
    all.push_back(a);
  emit_launch(w, kernel, "(" + columns + " + 31) / 32 * column_splits", "dim3(32, 32)", all);
  w.open("if (column_splits > 1)");
  std::vector<std::string> second = outs;
  for (const char* a : {"column_partials", "column_splits", "accumulate"}) second.push_back(a);
  emit_launch(w, splits_kernel(kernel), "ltrt::cuda::blocks_for(" + columns + ", 256)", "256", second);
  w.close();
}

void write_block_double_sum(CodeWriter& k) {
  k.line("partial[threadIdx.x] = sum;");
  k.line("__syncthreads();");
  k.open("for (int s = blockDim.x / 2; s > 0; s /= 2)");
  k.line("if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];");
  k.line("__syncthreads();");
  k.close();
}

void write_block_sum_kernel(CodeWriter& k, const std::string& name, const std::string& params,
                            const std::function<void(CodeWriter&)>& constants, const std::string& loop,
                            const std::function<void(CodeWriter&)>& body, const std::string& result) {
  k.line();
  k.open("__global__ void " + name + "(" + params + ")");
  if (constants) constants(k);
  k.line("__shared__ double partial[kReduceThreads];");
  k.line("double sum = 0.0;");
  k.open(loop);
  body(k);
  k.close();
  write_block_double_sum(k);
  k.line(result);
  k.close();
}

void write_block_sums(CodeWriter& k, const std::vector<std::string>& vars) {
  for (size_t v = 0; v < vars.size(); ++v)
    k.line("partial[" + std::to_string(v) + "][threadIdx.x] = " + vars[v] + ";");
  k.line("__syncthreads();");
  k.open("for (int half = blockDim.x / 2; half > 0; half /= 2)");
  k.open("if (threadIdx.x < half)");
  for (size_t v = 0; v < vars.size(); ++v)
    k.line("partial[" + std::to_string(v) + "][threadIdx.x] += partial[" + std::to_string(v) + "][threadIdx.x + half];");
  k.close();
  k.line("__syncthreads();");
  k.close();
  for (size_t v = 0; v < vars.size(); ++v) k.line(vars[v] + " = partial[" + std::to_string(v) + "][0];");
  k.line("__syncthreads();  // every thread has read the sums before partial is written again");
}

void write_row_moments(CodeWriter& k, const RowSplit& split) {
  k.line("const float* x = inp + static_cast<std::int64_t>(r) * kDim;");
  k.line("float sum = 0.0f;");
  k.line("for (int k = t; k < kDim; k += kRowThreads) sum += x[k];");
  k.line("sum = " + row_sum(split, "sum") + ";");
  k.line("const float m = sum / kDim;");
  k.line("float sum_sq = 0.0f;  // two passes: no cancellation when |mean| >> std");
  k.open("for (int k = t; k < kDim; k += kRowThreads)");
  k.line("const float c = x[k] - m;");
  k.line("sum_sq += c * c;");
  k.close();
  k.line("sum_sq = " + row_sum(split, "sum_sq") + ";");
  k.line("const float s = 1.0f / std::sqrt(sum_sq / kDim + kEps);  // biased variance, as torch");
  k.open("if (t == 0)");
  k.line("mean[r] = m;");
  k.line("rstd[r] = s;");
  k.close();
}

void write_row_norm_backward(CodeWriter& k, const RowSplit& split, const std::string& weight) {
  const std::string g = weight.empty() ? "" : " * " + weight;
  k.line("const float* x = inp + static_cast<std::int64_t>(r) * kDim;");
  k.line("const float* dy = dout + static_cast<std::int64_t>(r) * kDim;");
  k.line("const float m = mean[r], s = rstd[r];");
  k.line("float sum_g = 0.0f, sum_g_xhat = 0.0f;  // g = dy * weight: the gradient of xhat");
  k.open("for (int k = t; k < kDim; k += kRowThreads)");
  k.line("const float xhat = (x[k] - m) * s;");
  k.line("const float gk = dy[k]" + g + ";");
  k.line("sum_g += gk;");
  k.line("sum_g_xhat += gk * xhat;");
  k.close();
  k.line("sum_g = " + row_sum(split, "sum_g") + ";");
  k.line("sum_g_xhat = " + row_sum(split, "sum_g_xhat") + ";");
  k.line("float* dx = dinp + static_cast<std::int64_t>(r) * kDim;");
  k.open("for (int k = t; k < kDim; k += kRowThreads)");
  k.line("const float xhat = (x[k] - m) * s;");
  k.line("const float gk = dy[k]" + g + ";");
  k.line("dx[k] = s * (gk - sum_g / kDim - xhat * (sum_g_xhat / kDim));");
  k.close();
}

}  // namespace ltgen
