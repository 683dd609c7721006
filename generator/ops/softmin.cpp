/// \file
/// Softmin(dim): torch's softmax(-x, dim), built as a negation (an elementwise op that fuses into
/// its producer's loop) and the Softmax layer's node; d(-x)/dx = -1.
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

void register_softmin(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  UnaryOp neg;
  neg.name = "neg";
  neg.flops_per_element = 1;
  neg.saved = Saved::output;  // (the gradient reads neither)
  neg.forward = [](const Node&, const std::string& x) { return "(-" + x + ")"; };
  neg.backward = [](const Node&, const std::string& dout, const std::string&) { return "(-" + dout + ")"; };
  register_unary(ops, neg);

  LayerDef l;
  l.torch_type = "Softmin";
  l.args = {{"dim", ArgType::integer, std::nullopt}};
  l.build = [](LayerBuild& b, const std::vector<int>& in) {
    Node n;
    n.op = "neg";
    n.layer = b.layer;
    n.source = b.source;
    n.inputs = {in.at(0)};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_neg");
    LayerBuild softmax{b.graph, b.layer, b.source, b.args};
    return find_layer("Softmax")->build(softmax, {b.graph.nodes[id].outputs[0]});
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
