/// \file
/// Key padding masks, forward's `key_padding_mask` of MultiheadAttention (and the Transformer
/// classes' `src_key_padding_mask`, ...): a model input (batch, S) that marks the keys a query may
/// not see. Two ops:
///   additive_mask    torch's F._canonical_mask: a bool mask as float32, -inf where true, 0 where
///                    false (a float32 mask is already additive: the attention adds it to the
///                    scaled scores).
///   nested_padding   TransformerEncoder's fast path in evaluation: torch turns the sequence into a
///                    nested tensor of each sample's unpadded positions, runs the layers on it and
///                    pads it back with zeros (`to_padded_tensor(0.0)`), so the stack's output at
///                    padded positions is 0 (before its final norm). torch takes that path only when
///                    every sample's padding follows its last unpadded position (mask_check's
///                    "left aligned"), so this op zeroes them only for such a batch, in evaluation;
///                    in training it is the identity (its gradient passes through).
/// A position is padded where the additive mask is not 0 (torch's `mask.logical_not()`).
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

void write_mask_sizes(CodeWriter& w, const Value& mask) {
  w.line("constexpr int kS = " + std::to_string(mask.shape.at(1)) + ";  // keys a sample");
}

// `aligned`: whether every one of the batch's n rows of mask (kS floats each) has its padding
// after its last unpadded position.
void write_left_aligned(CodeWriter& w, const std::string& rows_begin, const std::string& rows_step) {
  w.open("for (int b = " + rows_begin + "; b < n && aligned; b += " + rows_step + ")");
  w.line("bool padded = false;");
  w.open("for (int j = 0; j < kS; ++j)");
  w.line("const bool pad = mask[b * kS + j] != 0.0f;");
  w.line("if (padded && !pad) aligned = false;  // an unpadded position after a padded one");
  w.line("padded = padded || pad;");
  w.close();
  w.close();
}

void emit_additive_cpu(CodeWriter& w, const Node& n, const Graph& g) {
  write_mask_sizes(w, g.value(n.inputs[0]));
  w.line("// torch's _canonical_mask: true (padded) adds -inf to the scores, false adds 0.");
  w.line("for (int i = 0; i < n * kS; ++i) out[i] = mask[i] ? -INFINITY : 0.0f;");
}

void emit_additive_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  CodeWriter& k = e.kernels;
  k.line();
  k.line("// torch's _canonical_mask: true (padded) adds -inf to the scores, false adds 0.");
  open_element_kernel(k, e.fn + "_kernel", {"float* __restrict__ out", "const std::uint8_t* __restrict__ mask"},
                      [](CodeWriter&) {});
  k.line("out[i] = mask[i] ? -INFINITY : 0.0f;");
  k.close();
  write_mask_sizes(e.body, g.value(n.inputs[0]));
  emit_count_launch(e.body, e.fn + "_kernel", "n * kS", {"out", "mask"});
}

void write_nested_sizes(CodeWriter& w, const Graph& g, const Node& n) {
  const Value& x = g.value(n.inputs[0]);
  w.line("constexpr int kS = " + std::to_string(x.shape.at(1)) + ", kE = " + std::to_string(x.shape.at(2)) +
         ";  // positions a sample, features a position");
}

void emit_nested_cpu(CodeWriter& w, const Node& n, const Graph& g) {
  write_nested_sizes(w, g, n);
  w.line("bool aligned = !training;  // torch's nested tensors: evaluation only");
  write_left_aligned(w, "0", "1");
  w.open("for (int b = 0; b < n; ++b)");
  w.open("for (int j = 0; j < kS; ++j)");
  w.line("const bool zero = aligned && mask[b * kS + j] != 0.0f;  // a padded position of a nested batch");
  w.line("for (int c = 0; c < kE; ++c) out[(b * kS + j) * kE + c] = zero ? 0.0f : inp[(b * kS + j) * kE + c];");
  w.close();
  w.close();
}

void emit_nested_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  CodeWriter& k = e.kernels;
  k.line();
  k.line("// Whether torch would take its nested-tensor path for this batch: every row's padding after its");
  k.line("// last unpadded position. One block; each thread checks rows t, t + blockDim.x, ...");
  k.open("__global__ void " + e.fn + "_aligned_kernel(std::uint8_t* __restrict__ nested, const float* __restrict__ mask, int n)");
  write_mask_sizes(k, g.value(n.inputs[1]));
  k.line("bool aligned = true;");
  write_left_aligned(k, "static_cast<int>(threadIdx.x)", "static_cast<int>(blockDim.x)");
  k.line("aligned = !__syncthreads_or(!aligned);  // every thread's rows");
  k.line("if (threadIdx.x == 0) nested[0] = aligned;");
  k.close();
  k.line();
  k.line("// The stack's output back from the nested tensor: zeros at the padded positions when it was one.");
  open_element_kernel(k, e.fn + "_kernel",
                      {"float* __restrict__ out", "const float* __restrict__ inp", "const float* __restrict__ mask",
                       "const std::uint8_t* __restrict__ nested"},
                      [&](CodeWriter& c) {
                        c.line("constexpr int kE = " + std::to_string(g.value(n.inputs[0]).shape.at(2)) +
                               ";  // features a position");
                      });
  k.line("out[i] = nested[0] && mask[i / kE] != 0.0f ? 0.0f : inp[i];  // mask: one float a position");
  k.close();
  CodeWriter& w = e.body;
  write_nested_sizes(w, g, n);
  w.open("if (training)");
  w.line("LTRT_CUDA_CHECK(cudaMemcpyAsync(out, inp, sizeof(float) * n * kS * kE, cudaMemcpyDeviceToDevice, ctx.stream));");
  w.line("return;");
  w.close();
  w.line(e.fn + "_aligned_kernel<<<1, 256, 0, ctx.stream>>>(nested, mask, n);");
  w.line("LTRT_CUDA_CHECK(cudaGetLastError());");
  emit_count_launch(w, e.fn + "_kernel", "n * kS * kE", {"out", "inp", "mask", "nested"});
}

}  // namespace

int additive_padding_mask(Graph& g, const std::string& layer, const std::string& source, int mask) {
  if (g.value(mask).dtype == DType::f32) return mask;  // torch adds a float mask as it is
  for (const Node& n : g.nodes)  // one conversion of each bool input, whichever layers read it
    if (n.op == "additive_mask" && n.inputs.at(0) == mask) return n.outputs.at(0);
  Node n;
  n.op = "additive_mask";
  n.layer = layer;
  n.source = source;
  n.inputs = {mask};
  const int id = add_op(g, std::move(n), g.value(mask).name + "_additive");
  return g.nodes[id].outputs[0];
}

int add_nested_padding(Graph& g, const std::string& layer, const std::string& source, int x, int mask) {
  Node n;
  n.op = "nested_padding";
  n.layer = layer;
  n.source = source;
  n.inputs = {x, mask};
  const int id = add_op(g, std::move(n), cpp_name(layer) + "_nested");
  return g.nodes[id].outputs[0];
}

ArgDef key_padding_mask_arg(const std::string& name) {
  ArgDef a{name, ArgType::value, std::nullopt};
  a.optional = true;  // torch's None: no mask
  return a;
}

int key_padding_mask_input(LayerBuild& b, const std::string& arg, std::int64_t keys) {
  auto it = b.values.find(arg);
  if (it == b.values.end()) return -1;
  const Value& mask = b.graph.value(it->second);
  if (mask.kind != ValueKind::input || (mask.dtype != DType::u8 && mask.dtype != DType::f32))
    throw ShapeError(arg + " must be a bool or float32 model input");
  if (mask.shape.size() != 2 || mask.shape[1] != keys) {
    std::string given;  // the per-sample shape as model.inputs writes it
    for (std::size_t i = 1; i < mask.shape.size(); ++i) given += (i > 1 ? ", " : "") + std::to_string(mask.shape[i]);
    throw ShapeError(arg + " '" + mask.name + "' has per-sample shape [" + given + "], but the keys are " +
                     std::to_string(keys) + " positions: declare it [" + std::to_string(keys) + "]");
  }
  return additive_padding_mask(b.graph, b.layer, b.source, it->second);
}

void register_key_padding_mask(std::vector<OpDef>& ops) {
  OpDef a;
  a.name = "additive_mask";
  a.infer = [](const Node& n, const Graph& g) {
    const Value& m = g.value(n.inputs.at(0));
    return std::vector<OutputType>{{DType::f32, m.shape, m.batched}};
  };
  a.slots = [](const Node&) { return Slots{{"out"}, {"mask"}}; };
  a.cost = [](const Node& n, const Graph& g) {
    return Cost{0, 5 * static_cast<double>(numel(g.value(n.inputs[0]).shape))};
  };
  a.emit_cpu = emit_additive_cpu;
  a.emit_cuda = emit_additive_cuda;
  a.backward = [](Autodiff&, const Node&, const std::vector<int>&) { return std::vector<int>{-1}; };  // data
  ops.push_back(std::move(a));

  OpDef z;
  z.name = "nested_padding";
  z.training_mode = true;
  z.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const Value& m = g.value(n.inputs.at(1));
    if (x.shape.size() != 3 || m.shape.size() != 2 || m.shape[1] != x.shape[1])
      throw ShapeError("nested_padding: a mask " + shape_str(m.shape) + " does not fit " + shape_str(x.shape));
    // out, and whether the batch went through the nested path (the GPU's flag; the CPU's is local)
    return std::vector<OutputType>{{DType::f32, x.shape, x.batched}, {DType::u8, {1}, false}};
  };
  z.slots = [](const Node&) { return Slots{{"out", "nested"}, {"inp", "mask"}}; };
  z.cost = [](const Node& n, const Graph& g) {
    return Cost{0, 8 * static_cast<double>(numel(g.value(n.inputs[0]).shape))};
  };
  z.emit_cpu = emit_nested_cpu;
  z.emit_cuda = emit_nested_cuda;
  z.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    // Training never takes the nested path: the output is the input, and so are the gradients.
    return std::vector<int>{ad.needs_grad(n.inputs[0]) ? dout[0] : -1, -1};
  };
  ops.push_back(std::move(z));
}

}  // namespace ltgen
