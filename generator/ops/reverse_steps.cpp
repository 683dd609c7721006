/// \file
/// reverse_steps: a (batch, T, features) sequence with its steps in reverse order, out[:, t] =
/// x[:, T - 1 - t] (torch.flip(x, [1])). A bidirectional recurrent layer's reverse direction runs
/// the forward cells over the reversed input and reverses their output back. Its gradient is the
/// same reversal of dout.
#include <algorithm>

#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

std::string sizes(const Shape& s) {
  return "constexpr int kT = " + std::to_string(s.at(1)) + ", kF = " + std::to_string(s.at(2)) +
         ";  // steps, features";
}

void emit_reverse(CodeWriter& w, const Node& n, const Graph& g) {
  w.line(sizes(g.value(n.inputs.at(0)).shape));
  w.open("for (int s = 0; s < n; ++s)");
  w.open("for (int t = 0; t < kT; ++t)");
  w.line("const float* src = inp + (static_cast<std::int64_t>(s) * kT + t) * kF;");
  w.line("std::copy(src, src + kF, out + (static_cast<std::int64_t>(s) * kT + (kT - 1 - t)) * kF);");
  w.close();
  w.close();
}

// CUDA: a thread per element of out reads its element of inp.
void emit_reverse_cuda(CudaEmit& e, const Node& n, const Graph& g) {
  const Shape& x = g.value(n.inputs.at(0)).shape;
  e.body.line("constexpr int kNumel = " + std::to_string(x.at(1) * x.at(2)) + ";  // per sample");
  emit_elementwise_kernel(e, e.fn + "_kernel",
                          {{"float* __restrict__ out", "out"}, {"const float* __restrict__ inp", "inp"}}, "n * kNumel",
                          {"const int f = i % kF, t = i / kF % kT, s = i / (kF * kT);  // sample s, step t, feature f",
                           "out[i] = inp[(static_cast<std::int64_t>(s) * kT + (kT - 1 - t)) * kF + f];"},
                          [&](CodeWriter& k) { k.line(sizes(x)); });
}

}  // namespace

int add_reverse_steps(Graph& g, const std::string& layer, const std::string& source, int x) {
  Node n;
  n.op = "reverse_steps";
  n.layer = layer;
  n.source = source;
  n.inputs = {x};
  const int id = add_op(g, std::move(n), cpp_name(layer) + "_out");
  return g.nodes[id].outputs[0];
}

void register_reverse_steps(std::vector<OpDef>& ops, std::vector<LayerDef>&) {
  OpDef r;
  r.name = "reverse_steps";
  r.moves_values = true;
  r.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    if (x.shape.size() != 3) throw ShapeError("expects a sequence (batch, T, features), got " + shape_str(x.shape));
    return std::vector<OutputType>{{x.dtype, x.shape, x.batched}};
  };
  r.slots = [](const Node&) { return Slots{{"out"}, {"inp"}}; };
  r.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.outputs.at(0)).shape));
    return Cost{0, e * 8};
  };
  r.emit_cpu = emit_reverse;
  r.emit_cuda = emit_reverse_cuda;
  r.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const int x = n.inputs[0];
    if (!ad.needs_grad(x) || dout[0] < 0) return std::vector<int>{-1};
    Node b;
    b.op = "reverse_steps";  // reversing the steps back
    b.layer = n.layer;
    b.source = n.source;
    b.inputs = {dout[0]};
    const int id = ad.add_backward(std::move(b), ad.grad_name(x));
    return std::vector<int>{ad.graph.nodes[id].outputs[0]};
  };
  ops.push_back(std::move(r));
}

}  // namespace ltgen
