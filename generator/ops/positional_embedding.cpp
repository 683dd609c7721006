/// \file
/// PositionalEmbedding: ltgen's name for nanoGPT's learned positions,
///   x = wte(idx) + wpe(torch.arange(T))
/// as one layer on a sequence x (batch, T, embedding_dim) with its own weight
/// (num_positions, embedding_dim), initialised N(0, 1) like nn.Embedding:
///   out[b, t, :] = x[b, t, :] + weight[t, :]        (T <= num_positions)
/// Backward: dx = dout (passed through, no node), and
///   dweight[t, :] = sum_b dout[b, t, :]  for t < T; rows t >= T get no gradient.
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

void write_sizes(CodeWriter& w, const Node& n, const Value& x) {
  w.line("constexpr int kT = " + std::to_string(x.shape[1]) + ", kDim = " + std::to_string(x.shape[2]) +
         ";  // positions used, embedding_dim");
  w.line("constexpr int kPositions = " + std::to_string(attr_int(n, "num_positions")) + ";  // num_positions");
}

// CUDA forward: a thread per element adds its position's row (a sample is kT rows of kDim).
void emit_forward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const Value& x = g.value(n.inputs[0]);
  e.body.line("constexpr int kT = " + std::to_string(x.shape[1]) + ", kDim = " + std::to_string(x.shape[2]) +
              ";  // positions used, embedding_dim");
  const std::string sample = "constexpr int kSample = " + std::to_string(x.shape[1] * x.shape[2]) +
                             ";  // kT * kDim: the rows of weight a sample uses";
  emit_elementwise_kernel(e, e.fn + "_kernel",
                          {{"float* __restrict__ out", "out"},
                           {"const float* __restrict__ inp", "inp"},
                           {"const float* __restrict__ weight", "weight"}},
                          "n * kT * kDim", {"out[i] = inp[i] + weight[i % kSample];"},
                          [&](CodeWriter& k) { k.line(sample); });
}

// CUDA backward: a thread per element of dweight sums its column over the samples in order (the
// CPU's order); rows at or past kT get no gradient.
void emit_backward_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  CodeWriter& k = e.kernels;
  k.line();
  k.open("__global__ void " + e.fn + "_kernel(float* __restrict__ dweight, const float* __restrict__ dout, int n, "
         "bool accumulate)");
  write_sizes(k, n, g.value(n.inputs[0]));
  k.line("const int at = blockIdx.x * blockDim.x + threadIdx.x;  // dweight[t, c]");
  k.line("if (at >= kPositions * kDim) return;");
  k.open("if (at >= kT * kDim)");
  k.line("if (!accumulate) dweight[at] = 0.0f;  // a position the sequence does not reach");
  k.line("return;");
  k.close();
  k.line("float sum = accumulate ? dweight[at] : 0.0f;");
  k.line("for (int b = 0; b < n; ++b) sum += dout[static_cast<std::int64_t>(b) * kT * kDim + at];");
  k.line("dweight[at] = sum;");
  k.close();
  e.body.line("constexpr int kTable = " + std::to_string(attr_int(n, "num_positions") * attr_int(n, "embedding_dim")) +
              ";  // num_positions * embedding_dim");
  emit_launch(e.body, e.fn + "_kernel", "ltrt::cuda::blocks_for(kTable, kThreads)", "kThreads",
              {"dweight", "dout", "n", "accumulate"});
}

}  // namespace

void register_positional_embedding(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef f;
  f.name = "positional_embedding";
  f.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    if (x.shape.size() != 3 || x.shape[2] != attr_int(n, "embedding_dim") || x.shape[1] > attr_int(n, "num_positions"))
      throw ShapeError("expects a sequence (batch, T <= " + std::to_string(attr_int(n, "num_positions")) + ", " +
                       std::to_string(attr_int(n, "embedding_dim")) + "), got " + shape_str(x.shape));
    return std::vector<OutputType>{{x.dtype, x.shape, x.batched}};
  };
  f.slots = [](const Node&) { return Slots{{"out"}, {"inp", "weight"}}; };
  f.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e, e * 12};
  };
  f.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_sizes(w, n, g.value(n.inputs[0]));
    w.line("(void)kPositions;");
    w.open("for (int b = 0; b < n; ++b)");
    w.open("for (int t = 0; t < kT; ++t)");
    w.line("const int row = (b * kT + t) * kDim;");
    w.line("for (int k = 0; k < kDim; ++k) out[row + k] = inp[row + k] + weight[t * kDim + k];");
    w.close();
    w.close();
  };
  f.emit_cuda = emit_forward_cuda;
  f.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    if (dout[0] < 0) return std::vector<int>{-1, -1};
    Node b;
    b.op = "positional_embedding_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs = n.attrs;
    b.inputs = {dout[0]};
    b.outputs = {ad.param_grad(n.inputs[1])};
    ad.add_backward(std::move(b), ad.grad_name(n.inputs[1]));
    // d out / d inp is the identity: the gradient passes through unchanged.
    return std::vector<int>{ad.needs_grad(n.inputs[0]) ? dout[0] : -1, -1};
  };
  ops.push_back(std::move(f));

  OpDef b;
  b.name = "positional_embedding_backward";
  b.writes_param_grad = true;
  b.infer = [](const Node& n, const Graph&) {
    return std::vector<OutputType>{{DType::f32, {attr_int(n, "num_positions"), attr_int(n, "embedding_dim")}, false}};
  };
  b.slots = [](const Node&) { return Slots{{"dweight"}, {"dout"}}; };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e, e * 4 + 8 * static_cast<double>(attr_int(n, "num_positions") * attr_int(n, "embedding_dim"))};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    write_sizes(w, n, g.value(n.inputs[0]));
    w.line("if (!accumulate) std::fill(dweight, dweight + kPositions * kDim, 0.0f);  // rows >= kT stay zero");
    w.open("for (int b = 0; b < n; ++b)");
    w.open("for (int t = 0; t < kT; ++t)");
    w.line("const float* d = dout + (b * kT + t) * kDim;");
    w.line("for (int k = 0; k < kDim; ++k) dweight[t * kDim + k] += d[k];");
    w.close();
    w.close();
  };
  b.emit_cuda = emit_backward_cuda;
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "PositionalEmbedding";
  ArgDef num{"num_positions", ArgType::integer, std::nullopt};
  num.min = 1;
  ArgDef dim{"embedding_dim", ArgType::integer, std::nullopt, true};
  dim.min = 1;
  l.args = {num, dim};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    const Value& x = b.graph.value(in.at(0));
    if (x.shape.size() != 3)
      throw ShapeError("adds positions to a sequence (batch, T, embedding_dim), got " + shape_str(x.shape));
    const std::int64_t positions = std::get<std::int64_t>(b.args.at("num_positions"));
    const std::int64_t d = x.shape[2];
    auto given = b.args.find("embedding_dim");
    if (given != b.args.end() && std::get<std::int64_t>(given->second) != d)
      throw ShapeError("embedding_dim is " + std::to_string(std::get<std::int64_t>(given->second)) +
                       " but the input has " + std::to_string(d) + " features; remove embedding_dim to infer it");
    if (x.shape[1] > positions)
      throw ShapeError("the sequence has " + std::to_string(x.shape[1]) + " positions but num_positions is " +
                       std::to_string(positions));
    Node n;
    n.op = "positional_embedding";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs["num_positions"] = positions;
    n.attrs["embedding_dim"] = d;
    const int weight = add_param(b.graph, b.layer + ".weight", {positions, d});
    b.graph.value(weight).init = Init::normal;  // as nn.Embedding: N(0, 1)
    b.graph.value(weight).init_bound = 1.0;
    n.inputs = {in.at(0), weight};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
