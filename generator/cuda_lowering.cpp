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

void open_element_kernel(CodeWriter& k, const std::string& name, const std::vector<std::string>& params,
                         const std::function<void(CodeWriter&)>& constants) {
  std::string sig = "__global__ void " + name + "(";
  for (const std::string& p : params) sig += p + ", ";
  k.open(sig + "int count)");
  constants(k);
  k.line("const int i = blockIdx.x * blockDim.x + threadIdx.x;");
  k.line("if (i >= count) return;");
}

}  // namespace ltgen
