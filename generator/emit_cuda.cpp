/// \file
/// The CUDA emitter: writes model_cuda.cu for a planned graph. It shares the CPU emitter's
/// names, schedule, views and memory plan (program_emitter.hpp); each op's `emit_cuda` writes
/// its kernels and launches. Each distinct kernel is written once: nodes whose lowerings write the
/// same kernels (layers of the same shapes) launch the first one's. The runtime captures a whole
/// training step in one CUDA graph.
#include "emit_cuda.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <stdexcept>

#include "autocast.hpp"
#include "code_writer.hpp"
#include "cuda_storage16.hpp"
#include "op.hpp"
#include "program_emitter.hpp"

namespace ltgen {

namespace {

using namespace emit;

// Whether `code` uses the identifier `name` (not as part of a longer one: kThreads in kRowBlockThreads).
bool mentions(const std::string& code, const std::string& name) {
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (size_t at = code.find(name); at != std::string::npos; at = code.find(name, at + 1)) {
    const size_t end = at + name.size();
    if ((at == 0 || !word(code[at - 1])) && (end == code.size() || !word(code[end]))) return true;
  }
  return false;
}

// What a node's function name stands as while its op lowers it. Every name the lowering derives
// from it (`<fn>_kernel`, `<fn>_dinp_gemm`) carries it, so two nodes whose kernels read the same
// under it have the same kernels, byte for byte, but for the name. '@' is in no C++ name or
// token that ltgen writes, so the placeholder stands for nothing else.
constexpr char kFnPlaceholder[] = "@fn@";

// A node's CUDA code as its op lowering wrote it, under kFnPlaceholder.
struct NodeCuda {
  std::string kernels;  // namespace scope: kernels, their helper types and device functions
  std::string body;     // the host function's body
  std::string prepare;  // its lines of prepare_kernels()
};

// The CUDA program: one host function per node, its kernels above it, the step functions
// calling them in schedule order on ctx.stream. Nodes whose kernels are the same (layers of the
// same shapes) launch one copy: the first node's, named after it; a node whose host function is
// then the same as an earlier one's too calls that one, as in the CPU program.
struct CudaEmitter : Emitter {
  std::vector<NodeCuda> code;        // per node; views have none
  std::vector<size_t> kernels_from;  // per node: the node whose kernels it launches (first_alike)
  std::vector<size_t> function_from;  // per node: the node whose host function it calls (first_alike)
  std::int64_t operands16_bytes = 0;  // the most any node's gemm_16bit calls need (CudaEmit)

  CudaEmitter(const Spec& s, const Graph& graph, const MemoryPlan& p, const CudaTarget& target) : Emitter(s, graph, p) {
    const bool gemms16 = gemms_16bit(s.trainer.precision, target.tensor_cores);
    stored16 = values_stored16(g, gemms16);
    code.resize(g.nodes.size());
    std::vector<std::string> kernels(g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      const OpDef& d = op_def(n.op);
      if (d.view) continue;
      // Every op has one (tests/generator: OpRegistry.EveryOpLowersToCuda).
      if (!d.emit_cuda) throw std::logic_error("internal: op " + n.op + " has no CUDA lowering");
      CodeWriter k, body(1), prepare(1);
      CudaEmit e{k, body, prepare, kFnPlaceholder, target.shared_budget, target.tensor_cores, gemms16};
      e.stored16 = &stored16;
      d.emit_cuda(e, n, g);
      operands16_bytes = std::max(operands16_bytes, e.operands16_bytes);
      code[i] = {k.str(), body.str(), prepare.str()};
      // What prepare_kernels() sets for the kernels (their shared memory) must match too.
      if (!k.str().empty()) kernels[i] = k.str() + '\0' + prepare.str();
    }
    kernels_from = first_alike(kernels);
    std::vector<std::string> functions(g.nodes.size());  // a host function's text but for its name
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (!op_def(g.nodes[i].op).view) functions[i] = with_list("", params(i)) + named(code[i].body, i);
    function_from = first_alike(functions);
  }

  // `text` with the placeholder replaced by the name of the node whose kernels node `index` launches.
  std::string named(std::string text, size_t index) const {
    replace_all(text, kFnPlaceholder, fn_names[kernels_from[index]]);
    return text;
  }

  // The parameters of node `index`'s host function.
  std::vector<std::string> params(size_t index) const {
    std::vector<std::string> p = value_params(index);
    for (const auto& s : step_params(g.nodes[index])) p.push_back(s);
    p.push_back("const ltrt::cuda::Context& ctx");
    return p;
  }

  void emit_function(CodeWriter& w, CodeWriter& prepare, size_t index) const {
    const NodeCuda& c = code[index];
    function_preamble(w, index);
    const std::vector<std::string> params = this->params(index);
    if (emit_call_alike(w, index, function_from, params)) return;
    if (kernels_from[index] != index) {
      comment_alike(w, "Its kernels are @'s", {kernels_from[index]});
    } else {
      // The later nodes with host functions of their own that launch these kernels.
      std::vector<size_t> launchers;
      for (size_t i : alike_later(index, kernels_from))
        if (function_from[i] == i) launchers.push_back(i);
      comment_alike(w, "Its kernels also serve @", launchers);
      w.raw(named(c.kernels, index));
      prepare.raw(named(c.prepare, index));
      if (!c.kernels.empty()) w.line();
    }
    w.line("static void " + with_list(fn_names[index], params) + " {");
    w.raw(named(c.body, index));
    w.line("}");
  }

  std::string call(size_t index, bool training) const {
    std::vector<std::string> args = value_args(g.nodes[index]);
    for (const auto& a : step_args(g.nodes[index], training)) args.push_back(a);
    args.push_back("ctx");
    return with_list(fn_names[index], args) + ";";
  }

  static constexpr const char* kSeedLossGradient =
      "LTRT_CUDA_CHECK(cudaMemcpyAsync(d_loss, &ctx.scalars->loss_scale, sizeof(float), cudaMemcpyDeviceToDevice, "
      "ctx.stream));";

  // training_step in two halves, as model.cpp's, for the hooks that run between them.
  void emit_split_step(CodeWriter& w, bool has_accumulate) const {
    w.line();
    w.line("// The training step in two halves, for the spec's hooks that run between them");
    w.line("// (on_before_zero_grad, on_before_backward, on_after_backward): forward and loss");
    w.line("// in train mode ...");
    w.open("void training_forward(std::byte* arena, int n, const ltrt::cuda::Context& ctx)");
    for (int v : used_values(true, false)) emit_view(w, v);
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (!g.nodes[i].backward && !op_def(g.nodes[i].op).view) w.line(call(i, true));
    w.close();
    w.line();
    w.line("// ... and backward in reverse from d(loss) = ctx.scalars->loss_scale, over the activations");
    w.line("// forward left.");
    w.open("void training_backward(std::byte* arena, int n, bool accumulate, const ltrt::cuda::Context& ctx)");
    for (int v : used_values(false, true)) emit_view(w, v);
    if (!has_accumulate) w.line("(void)accumulate;");
    w.line(kSeedLossGradient);
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (g.nodes[i].backward && !op_def(g.nodes[i].op).view) w.line(call(i, true));
    w.close();
  }

  void emit_steps(CodeWriter& w) const {
    bool has_accumulate = false;
    for (const Node& n : g.nodes) has_accumulate = has_accumulate || op_def(n.op).writes_param_grad;
    if (split_step()) emit_split_step(w, has_accumulate);
    w.line();
    w.line("// One training step over the first n rows of the batch buffers: forward, loss, then");
    w.line("// backward in reverse from d(loss) = ctx.scalars->loss_scale. Parameter gradients are");
    w.line("// written, or added to when accumulate is set. Everything is enqueued on ctx.stream.");
    w.open("void training_step(std::byte* arena, int n, bool accumulate, const ltrt::cuda::Context& ctx)");
    if (split_step()) {
      w.line("training_forward(arena, n, ctx);");
      w.line("training_backward(arena, n, accumulate, ctx);");
    } else {
      emit_views(w, true);
      if (!has_accumulate) w.line("(void)accumulate;");
      w.line(kSeedLossGradient);
      w.line();
      emit_training_calls(w, [&](size_t i) { return call(i, true); });
    }
    w.close();

    w.line();
    w.line("// Forward and loss in eval mode (Dropout off), as in validation and test.");
    w.open("void evaluation_step(std::byte* arena, int n, const ltrt::cuda::Context& ctx)");
    emit_views(w, false);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      if (!n.backward && !op_def(n.op).view) w.line(call(i, false));
    }
    w.close();

    w.line();
    w.line("// Forward only in eval mode, into the output buffer (predict): no targets, no loss.");
    w.open("void predict_step(std::byte* arena, int n, const ltrt::cuda::Context& ctx)");
    for (int v : predict_values()) emit_view(w, v);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      if (!n.backward && !op_def(n.op).view && !is_loss(n)) w.line(call(i, false));
    }
    w.close();
  }
};

}  // namespace

std::string emit_model_cu(const Spec& spec, const Graph& g, const MemoryPlan& plan, const std::string& command,
                          const CudaTarget& target) {
  const bool bf16 = spec.trainer.precision == "bf16-mixed";  // the CPU program's roundings, kernel for kernel
  // "16-mixed": the same roundings to float16 (autocast.hpp), and a GradScaler in the runtime.
  const bool fp16 = spec.trainer.precision == "16-mixed";
  const Float16Emission float16(fp16);
  CudaEmitter e(spec, g, plan, target);
  CodeWriter w;
  w.line("// " + spec.name + ": the CUDA lowering of model.cpp's steps, generated by ltgen " + kVersion + ".");
  w.line("// spec: " + comment_safe(spec.path) + " (fnv1a " + spec.hash + ")");
  w.line("// command: " + comment_safe(command));
  w.line("// target: cuda, precision: " + spec.trainer.precision +
         (spec.float32_matmul_precision == "highest"
              ? std::string()
              : ", float32_matmul_precision: " + spec.float32_matmul_precision + " (TF32 GEMMs)") +
         ", batch_size: " + std::to_string(spec.batch_size));
  w.line("// built for: " + comment_safe(target.architectures) + " (--cuda-arch), so a block's shared memory is at most " +
         std::to_string(target.shared_budget) + " bytes" +
         (target.tensor_cores ? " and kernels may use TF32 tensor cores (sm_80 and newer)" : ""));
  w.line("//");
  w.line("// The same graph, schedule and memory plan as model.cpp (its header comment lists them):");
  w.line("// the device arena has the host arena's layout byte for byte, so weights, optimizer slots");
  w.line("// and checkpoints move between the two by plain copies. Each function enqueues its kernels");
  w.line("// on ctx.stream; the runtime captures a whole training step (forward, backward, clipping,");
  w.line("// optimizer) in one CUDA graph and replays it.");
  if (e.split_step()) {
    w.line("// The spec's hooks run between forward and backward, so the runtime captures the two halves");
    w.line("// (and then clipping with the optimizer step) as graphs of their own, with the hooks between.");
  }
  w.line();
  for (const char* inc : {"<algorithm>", "<cmath>", "<cstddef>", "<cstdint>"}) w.line(std::string("#include ") + inc);
  w.line();
  w.line("#include <cuda_runtime.h>");
  w.line();
  w.line("#include <ltrt/activations.hpp>");
  if (bf16) w.line("#include <ltrt/bfloat16.hpp>  // bf16-mixed's roundings (autocast.cpp)");
  if (fp16) w.line("#include <ltrt/float16.hpp>  // 16-mixed's roundings (autocast.cpp)");
  w.line("#include <ltrt/cuda/context.cuh>");
  w.line("#include <ltrt/cuda/mma.cuh>");
  w.line("#include <ltrt/cuda/reduce.cuh>");
  w.line("#include <ltrt/cuda/tiled_gemm.cuh>");
  w.line("#include <ltrt/error.hpp>");
  if (has_bf16_attention(g))
    w.line(std::string("#include <ltrt/fexp_u20.hpp>  // torch's exp in ") + autocast_precision() + "'s attention");
  std::set<std::string> op_includes;
  for (const Node& n : g.nodes)
    for (const std::string& inc : op_def(n.op).cuda_runtime_includes) op_includes.insert(inc);
  for (const Node& n : g.nodes)
    if (n.op == "batch_norm" && n.attrs.count("sync")) op_includes.insert("<ltrt/cuda/device_group.cuh>");  // SyncBatchNorm
  for (const std::string& inc : op_includes) w.line("#include " + inc);
  w.line();
  w.line("#include \"model.hpp\"");
  w.line();
  w.line("namespace " + spec.name + " {");
  w.line();
  w.line("namespace {");
  w.line();
  // The kernels' launch sizes, those the functions below use (nvcc warns about unused ones).
  CodeWriter functions;
  CodeWriter prepare(1);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!op_def(g.nodes[i].op).view) e.emit_function(functions, prepare, i);
  e.emit_steps(functions);
  const std::pair<const char*, const char*> sizes[] = {
      {"kThreads", "constexpr int kThreads = 256;         // TUNE: threads per block of elementwise kernels"},
      {"kReduceThreads",
       "constexpr int kReduceThreads = 1024;  // TUNE: threads of a block-wide reduction (losses, BatchNorm; a power of two)"},
      {"kWarpRows", "constexpr int kWarpRows = 8;          // TUNE: rows a block of a warp-a-row kernel (softmax, LayerNorm)"},
      {"kRowBlockThreads",
       "constexpr int kRowBlockThreads = 512; // TUNE: threads of a block-a-row kernel (long rows; a multiple of 32)"}};
  for (const auto& [name, line] : sizes)
    if (mentions(functions.str(), name)) w.line(line);
  w.line();
  w.line("// Byte offsets of every buffer in the arena (the memory plan in model.cpp).");
  e.emit_offsets(w);
  w.raw(functions.str());
  w.line();
  w.line("// Once, on the device, before any step or capture: what kernels need set before their first launch.");
  if (prepare.str().empty()) {
    w.line("void prepare_kernels() {}  // none: every kernel's shared memory is within the default 48 KB");
  } else {
    w.line("void prepare_kernels() {");
    w.raw(prepare.str());
    w.line("}");
  }
  w.line();
  w.line("}  // namespace");
  w.line();
  w.open("const ltrt::DeviceSteps& cuda_steps()");
  w.open("static const ltrt::DeviceSteps steps = []");
  w.line("ltrt::DeviceSteps s{};");
  for (const char* fn : {"training_step", "evaluation_step", "predict_step", "prepare_kernels"})
    w.line(std::string("s.") + fn + " = " + fn + ";");
  if (e.split_step()) {
    w.line("s.training_forward = training_forward;");
    w.line("s.training_backward = training_backward;");
  }
  if (e.operands16_bytes > 0)
    w.line("s.operands16_bytes = " + std::to_string(e.operands16_bytes) + ";  // gemm_16bit's copies of " +
           autocast_dtype_name() + " GEMM operands, at most (at the largest batch)");
  w.line("return s;");
  w.close("();");
  w.line("return steps;");
  w.close();
  w.line();
  w.line("}  // namespace " + spec.name);
  return w.str();
}

}  // namespace ltgen
