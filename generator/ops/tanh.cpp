/// \file
/// Tanh. Backward reads the output: dout * (1 - y^2).
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

void register_tanh(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  UnaryOp u;
  u.name = "tanh";
  u.flops_per_element = 10;
  u.saved = Saved::output;
  u.forward = [](const Node&, const std::string& x) { return "ltrt::tanh_vec(" + x + ")"; };
  u.backward = [](const Node&, const std::string& dout, const std::string& y) {
    return dout + " * (1.0f - " + y + " * " + y + ")";
  };
  register_unary(ops, u);
  layers.push_back(unary_layer("Tanh", {}, "tanh"));
}

}  // namespace ltgen
