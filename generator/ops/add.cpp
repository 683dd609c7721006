/// \file
/// Add: elementwise sum of two tensors of one shape. Autodiff uses it to sum
/// the gradients of a value that feeds several nodes.
#include "../autodiff.hpp"
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

void register_add(std::vector<OpDef>& ops, std::vector<LayerDef>&) {
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
  a.emit_cpu = [](CodeWriter& w, const Node& n, const Graph& g) {
    w.line("constexpr int kNumel = " + std::to_string(per_sample_numel(g.value(n.inputs[0]))) +
           ";  // per sample");
    epilogue_constants(w, n);
    w.open("for (int i = 0; i < n * kNumel; ++i)");
    w.line("out[i] = " + apply_epilogue(n, "a[i] + b[i]") + ";");
    w.close();
  };
  a.backward = [](Autodiff& ad, const Node& n, const std::vector<int>& dout) {
    std::vector<int> grads;
    for (int x : n.inputs) grads.push_back(ad.needs_grad(x) ? dout[0] : -1);
    return grads;
  };
  ops.push_back(std::move(a));
}

}  // namespace ltgen
