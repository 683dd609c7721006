#include "cuda_lowering.hpp"

namespace ltgen {

void emit_launch(CodeWriter& w, const std::string& kernel, const std::string& blocks, const std::string& threads,
                 const std::vector<std::string>& args) {
  std::string call = kernel + "<<<" + blocks + ", " + threads + ", 0, ctx.stream>>>(";
  for (size_t i = 0; i < args.size(); ++i) call += (i ? ", " : "") + args[i];
  w.line(call + ");");
  w.line("LTRT_CUDA_CHECK_LAUNCH(\"" + kernel + "\");");
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

}  // namespace ltgen
