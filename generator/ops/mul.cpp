/// \file
/// Mul: elementwise product of two tensors of one shape (gating in model.graph; of different
/// shapes it broadcasts: broadcast.cpp).
/// Backward: da = dout * b, db = dout * a.
#include "../autodiff.hpp"
#include "../cuda_lowering.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

void register_mul(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  OpDef m;
  m.name = "mul";
  m.accepts_epilogue = true;
  m.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(0));
    const Value& y = g.value(n.inputs.at(1));
    if (x.shape != y.shape) throw ShapeError("cannot multiply " + shape_str(x.shape) + " and " + shape_str(y.shape));
    return std::vector<OutputType>{{x.dtype, x.shape, x.batched}};
  };
  m.slots = [](const Node&) { return Slots{{"out"}, {"a", "b"}}; };
  m.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{e, e * 12};
  };
  m.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    w.line("constexpr int kNumel = " + std::to_string(per_sample_numel(g.value(n.inputs[0]))) + ";  // per sample");
    epilogue_constants(w, n);
    open_split_loop(w, "i", "n * kNumel", 1, SplitIndex::elements);
    w.line("out[i] = " + apply_epilogue(n, "a[i] * b[i]") + ";");
    close_split_loop(w);
  };
  m.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    e.body.line("constexpr int kNumel = " + std::to_string(per_sample_numel(g.value(n.inputs[0]))) + ";  // per sample");
    emit_elementwise_kernel(e, e.fn + "_kernel",
                            {{"float* __restrict__ out", "out"}, {"const float* __restrict__ a", "a"},
                             {"const float* __restrict__ b", "b"}},
                            "n * kNumel", {"out[i] = " + apply_epilogue(n, "a[i] * b[i]") + ";"},
                            [&](CodeWriter& k) { epilogue_constants(k, n); });
  };
  m.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    const bool need_a = ad.needs_grad(n.inputs[0]), need_b = ad.needs_grad(n.inputs[1]);
    if (dout[0] < 0 || (!need_a && !need_b)) return std::vector<int>{-1, -1};
    Node b;
    b.op = "mul_backward";
    b.layer = n.layer;
    b.source = n.source;
    b.attrs["need_da"] = need_a;
    b.attrs["need_db"] = need_b;
    b.inputs = {dout[0], n.inputs[0], n.inputs[1]};
    const int id = ad.add_backward(std::move(b), "d_" + cpp_name(n.layer));
    const std::vector<int>& outs = ad.graph.nodes[id].outputs;
    return std::vector<int>{need_a ? outs.at(0) : -1, need_b ? outs.back() : -1};
  };
  ops.push_back(std::move(m));

  OpDef b;
  b.name = "mul_backward";
  b.infer = [](const Node& n, const Graph& g) {
    const Value& x = g.value(n.inputs.at(1));
    std::vector<OutputType> t;
    if (attr_bool(n, "need_da")) t.push_back({x.dtype, x.shape, x.batched});
    if (attr_bool(n, "need_db")) t.push_back({x.dtype, x.shape, x.batched});
    return t;
  };
  b.slots = [](const Node& n) {
    Slots s{{}, {"dout", "a", "b"}};
    if (attr_bool(n, "need_da")) s.outputs.push_back("da");
    if (attr_bool(n, "need_db")) s.outputs.push_back("db");
    return s;
  };
  b.cost = [](const Node& n, const Graph& g) {
    const double e = static_cast<double>(numel(g.value(n.inputs[0]).shape));
    return Cost{2 * e, e * 20};
  };
  b.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    w.line("constexpr int kNumel = " + std::to_string(per_sample_numel(g.value(n.inputs[1]))) + ";  // per sample");
    open_split_loop(w, "i", "n * kNumel", 1, SplitIndex::elements);
    if (attr_bool(n, "need_da")) w.line("da[i] = dout[i] * b[i];");
    if (attr_bool(n, "need_db")) w.line("db[i] = dout[i] * a[i];");
    close_split_loop(w);
  };
  b.emit_cuda = [](CudaEmit& e, const Node& n, const Graph& g) {
    e.body.line("constexpr int kNumel = " + std::to_string(per_sample_numel(g.value(n.inputs[1]))) + ";  // per sample");
    std::vector<KernelParam> params;
    std::vector<std::string> body;
    if (attr_bool(n, "need_da")) {
      params.push_back({"float* __restrict__ da", "da"});
      body.push_back("da[i] = dout[i] * b[i];");
    }
    if (attr_bool(n, "need_db")) {
      params.push_back({"float* __restrict__ db", "db"});
      body.push_back("db[i] = dout[i] * a[i];");
    }
    for (const char* in : {"dout", "a", "b"}) params.push_back({std::string("const float* __restrict__ ") + in, in});
    emit_elementwise_kernel(e, e.fn + "_kernel", params, "n * kNumel", body);
  };
  ops.push_back(std::move(b));

  LayerDef l;
  l.torch_type = "Mul";
  l.num_inputs = 2;
  l.build = [](LayerBuild& bld, const std::vector<int>& in) {
    if (bld.graph.value(in.at(0)).shape != bld.graph.value(in.at(1)).shape)  // torch broadcasts them (broadcast.cpp)
      return add_broadcast(bld.graph, "broadcast_mul", bld.layer, bld.source, in.at(0), in.at(1));
    Node n;
    n.op = "mul";
    n.layer = bld.layer;
    n.source = bld.source;
    n.inputs = {in.at(0), in.at(1)};
    const int id = add_op(bld.graph, std::move(n), cpp_name(bld.layer) + "_out");
    const int out = bld.graph.nodes[id].outputs[0];
    keep_torch_layout(bld.graph, out, {in.at(0), in.at(1)});  // torch's a * b takes a's memory order
    return out;
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
