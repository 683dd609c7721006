/// \file
/// Add: elementwise sum of two tensors of one shape: model.graph's residual
/// connections, and autodiff's sum of the gradients of a value that feeds
/// several nodes. (Add of different shapes broadcasts: broadcast.cpp.)
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

void register_add(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef a;
  a.name = "add";
  a.accepts_epilogue = true;
  a.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const Value& y = g.value(n.inputs.at(1));
    if (x.shape != y.shape) throw ShapeError("cannot add " + shape_str(x.shape) + " and " + shape_str(y.shape));
    return std::vector<OutputType>{{x.dtype, x.shape, x.batched}};
  };
  a.slots = [](const Node&) { return Slots{{"out"}, {"a", "b"}}; };
  a.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e, e * 12};
  };
  // Batched values have n rows a step; autodiff also sums gradients of weights' bf16 casts (not batched).
  a.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    w.line(numel_constant(x));
    epilogue_constants(w, n);
    open_split_loop(w, "i", element_count(x), 1, SplitIndex::elements);
    w.line("out[i] = " + apply_epilogue(n, "a[i] + b[i]") + ";");
    close_split_loop(w);
  };
  // Under mixed precision a sum that only 16-bit GEMMs read (a gradient summed and rounded) is
  // written as 16-bit bits (cuda_storage16.hpp).
  a.cuda_writes16 = true;
  a.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs[0]);
    e.body.line(numel_constant(x));
    const OutputStore out = output_store(e, n.outputs[0], "out");
    emit_elementwise_kernel(e, e.fn + "_kernel",
                            {{out.param("out"), "out"}, {"const float* __restrict__ a", "a"},
                             {"const float* __restrict__ b", "b"}},
                            element_count(x), {"out[i] = " + out.store(apply_epilogue(n, "a[i] + b[i]")) + ";"},
                            [&](CodeWriter& k) { epilogue_constants(k, n); });
  };
  a.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    std::vector<int> grads;
    for (int x : n.inputs) grads.push_back(ad.needs_grad(x) ? dout[0] : -1);
    return grads;
  };
  ops.push_back(std::move(a));

  // model.graph's residual connection: {"name": "res", "type": "Add", "inputs": ["h", "x"]}.
  LayerDef l;
  l.torch_type = "Add";
  l.num_inputs = 2;
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    if (b.graph.value(in.at(0)).shape != b.graph.value(in.at(1)).shape)  // torch broadcasts them (broadcast.cpp)
      return add_broadcast(b.graph, "broadcast_add", b.layer, b.source, in.at(0), in.at(1));
    Node n;
    n.op = "add";
    n.layer = b.layer;
    n.source = b.source;
    n.inputs = {in.at(0), in.at(1)};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    const int out = b.graph.nodes[id].outputs[0];
    keep_torch_layout(b.graph, out, {in.at(0), in.at(1)});  // torch's a + b takes a's memory order
    return out;
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
