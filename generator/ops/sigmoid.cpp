/// \file
/// Sigmoid. Backward reads the output: dout * y * (1 - y).
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

void register_sigmoid(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  UnaryOp u;
  u.name = "sigmoid";
  u.flops_per_element = 4;
  u.saved = Saved::output;
  u.forward = [](const Node&, const std::string& x) { return "ltrt::sigmoid(" + x + ")"; };
  u.backward = [](const Node&, const std::string& dout, const std::string& y) {
    return dout + " * " + y + " * (1.0f - " + y + ")";
  };
  register_unary(ops, u);
  layers.push_back(unary_layer("Sigmoid", {}, "sigmoid"));
}

}  // namespace ltgen
