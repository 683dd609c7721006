/// \file
/// The CUDA emitter: writes model_cuda.cu for a planned graph. It shares the CPU emitter's
/// names, schedule, views and memory plan (program_emitter.hpp); each op's `emit_cuda` writes
/// its kernels and launches. The runtime captures a whole training step in one CUDA graph.
#include "emit_cuda.hpp"

#include <utility>

#include "code_writer.hpp"
#include "op.hpp"
#include "program_emitter.hpp"

namespace ltgen {

namespace {

using namespace emit;

// The ops each torch.nn layer lowers to (forward and backward), for the list of what the GPU
// supports; a layer counts when all of its ops have a CUDA lowering or are views. Every layer
// has one now; a new op without one makes its specs CPU-only ("auto") or refused ("gpu").
const std::pair<const char*, std::vector<const char*>> kLayerOps[] = {
    {"Linear", {"linear", "linear_backward"}},
    {"ReLU", {"relu", "relu_backward"}},
    {"LeakyReLU", {"leaky_relu", "leaky_relu_backward"}},
    {"GELU", {"gelu", "gelu_backward"}},
    {"Tanh", {"tanh", "tanh_backward"}},
    {"Sigmoid", {"sigmoid", "sigmoid_backward"}},
    {"SiLU", {"silu", "silu_backward"}},
    {"Dropout", {"dropout", "dropout_backward"}},
    {"Identity", {}},
    {"Flatten", {"view"}},
    {"Reshape", {"view"}},
    {"Transpose", {"transpose"}},
    {"Add", {"add"}},
    {"Mul", {"mul", "mul_backward"}},
    {"Concat", {"concat", "concat_backward"}},
    {"LayerNorm", {"layer_norm", "layer_norm_backward"}},
    {"Softmax", {"softmax", "softmax_backward"}},
    {"LogSoftmax", {"log_softmax", "log_softmax_backward"}},
    {"Embedding", {"embedding", "embedding_backward"}},
    {"Conv1d", {"conv2d", "conv2d_backward"}},
    {"Conv2d", {"conv2d", "conv2d_backward"}},
    {"BatchNorm1d", {"batch_norm", "batch_norm_backward"}},
    {"BatchNorm2d", {"batch_norm", "batch_norm_backward"}},
    {"MaxPool2d", {"max_pool2d", "max_pool2d_backward"}},
    {"AvgPool2d", {"avg_pool2d", "avg_pool2d_backward"}},
    {"AdaptiveAvgPool2d", {"adaptive_avg_pool2d", "adaptive_avg_pool2d_backward"}},
    {"MultiheadAttention", {"linear", "linear_backward", "attention", "attention_backward"}},
    {"PositionalEmbedding", {"positional_embedding", "positional_embedding_backward"}},
    {"MSELoss", {"mse_loss", "mse_loss_backward"}},
    {"L1Loss", {"l1_loss", "l1_loss_backward"}},
    {"HuberLoss", {"huber_loss", "huber_loss_backward"}},
    {"BCEWithLogitsLoss", {"bce_with_logits_loss", "bce_with_logits_loss_backward"}},
    {"CrossEntropyLoss", {"cross_entropy_loss", "cross_entropy_loss_backward"}},
};

// op_def throws std::logic_error for a name no op has: a mistake in kLayerOps, not a layer the
// GPU lacks.
bool op_lowers(const std::string& name) {
  const OpDef& d = op_def(name);
  return d.view || static_cast<bool>(d.emit_cuda);
}

// The CUDA program: one host function per node (its kernels above it), the step functions
// calling them in schedule order on ctx.stream.
struct CudaEmitter : Emitter {
  using Emitter::Emitter;

  void emit_function(CodeWriter& w, size_t index) const {
    const Node& n = g.nodes[index];
    std::vector<std::string> params = function_preamble(w, index);
    for (const auto& p : step_params(n)) params.push_back(p);
    params.push_back("const ltrt::cuda::Context& ctx");
    CodeWriter kernels, body(1);
    CudaEmit e{kernels, body, fn_names[index]};
    op_def(n.op).emit_cuda(e, n, g);
    w.raw(kernels.str());
    if (!kernels.str().empty()) w.line();
    w.line("static void " + with_list(fn_names[index], params) + " {");
    w.raw(body.str());
    w.line("}");
  }

  std::string call(size_t index, bool training) const {
    std::vector<std::string> args = value_args(g.nodes[index]);
    for (const auto& a : step_args(g.nodes[index], training)) args.push_back(a);
    args.push_back("ctx");
    return with_list(fn_names[index], args) + ";";
  }

  void emit_steps(CodeWriter& w) const {
    w.line();
    w.line("// One training step over the first n rows of the batch buffers: forward, loss, then");
    w.line("// backward in reverse from d(loss) = ctx.scalars->loss_scale. Parameter gradients are");
    w.line("// written, or added to when accumulate is set. Everything is enqueued on ctx.stream.");
    w.open("void training_step(std::byte* arena, int n, bool accumulate, const ltrt::cuda::Context& ctx)");
    emit_views(w, true);
    bool has_accumulate = false;
    for (const Node& n : g.nodes) has_accumulate = has_accumulate || op_def(n.op).writes_param_grad;
    if (!has_accumulate) w.line("(void)accumulate;");
    w.line("LTRT_CUDA_CHECK(cudaMemcpyAsync(d_loss, &ctx.scalars->loss_scale, sizeof(float), cudaMemcpyDeviceToDevice, ctx.stream));");
    w.line();
    emit_training_calls(w, [&](size_t i) { return call(i, true); });
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

std::string cuda_unsupported(const Graph& g) {
  for (const Node& n : g.nodes)
    if (!op_lowers(n.op)) return n.source;
  return "";
}

std::string cuda_supported_layers() {
  std::string out;
  for (const auto& [layer, ops] : kLayerOps) {
    bool all = true;
    for (const char* op : ops) all = all && op_lowers(op);
    if (all) out += (out.empty() ? "" : ", ") + std::string(layer);
  }
  return out;
}

std::string emit_model_cu(const Spec& spec, const Graph& g, const MemoryPlan& plan, const std::string& command) {
  CudaEmitter e(spec, g, plan);
  CodeWriter w;
  w.line("// " + spec.name + ": the CUDA lowering of model.cpp's steps, generated by ltgen " + kVersion + ".");
  w.line("// spec: " + comment_safe(spec.path) + " (fnv1a " + spec.hash + ")");
  w.line("// command: " + comment_safe(command));
  w.line("// target: cuda, precision: 32-true, batch_size: " + std::to_string(spec.batch_size));
  w.line("//");
  w.line("// The same graph, schedule and memory plan as model.cpp (its header comment lists them):");
  w.line("// the device arena has the host arena's layout byte for byte, so weights, optimizer slots");
  w.line("// and checkpoints move between the two by plain copies. Each function enqueues its kernels");
  w.line("// on ctx.stream; the runtime captures a whole training step (forward, backward, clipping,");
  w.line("// optimizer) in one CUDA graph and replays it.");
  w.line();
  for (const char* inc : {"<algorithm>", "<cmath>", "<cstddef>", "<cstdint>"}) w.line(std::string("#include ") + inc);
  w.line();
  w.line("#include <cuda_runtime.h>");
  w.line();
  w.line("#include <ltrt/activations.hpp>");
  w.line("#include <ltrt/cuda/context.cuh>");
  w.line("#include <ltrt/cuda/reduce.cuh>");
  w.line("#include <ltrt/error.hpp>");
  w.line();
  w.line("#include \"model.hpp\"");
  w.line();
  w.line("namespace " + spec.name + " {");
  w.line();
  w.line("namespace {");
  w.line();
  w.line("constexpr int kThreads = 256;         // TUNE: threads per block of elementwise kernels");
  w.line("constexpr int kReduceThreads = 1024;  // TUNE: threads of a block-wide reduction (losses, BatchNorm; a power of two)");
  w.line("constexpr int kWarpRows = 8;          // TUNE: rows a block of a warp-a-row kernel (softmax, LayerNorm)");
  w.line("constexpr int kRowBlockThreads = 512; // TUNE: threads of a block-a-row kernel (long rows; a multiple of 32)");
  w.line();
  w.line("// Byte offsets of every buffer in the arena (the memory plan in model.cpp).");
  e.emit_offsets(w);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!op_def(g.nodes[i].op).view) e.emit_function(w, i);
  e.emit_steps(w);
  w.line();
  w.line("}  // namespace");
  w.line();
  w.open("const ltrt::DeviceSteps& cuda_steps()");
  w.line("static const ltrt::DeviceSteps steps{training_step, evaluation_step, predict_step};");
  w.line("return steps;");
  w.close();
  w.line();
  w.line("}  // namespace " + spec.name);
  return w.str();
}

}  // namespace ltgen
