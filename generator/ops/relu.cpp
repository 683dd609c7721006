/// \file
/// ReLU: max(x, 0). Backward reads the output (torch's threshold_backward on the result).
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

void register_relu(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  UnaryOp u;
  u.name = "relu";
  u.flops_per_element = 1;
  u.saved = Saved::output;
  u.forward = [](const Node&, const std::string& x) { return "(" + x + " > 0.0f ? " + x + " : 0.0f)"; };
  u.backward = [](const Node&, const std::string& dout, const std::string& y) {
    return y + " > 0.0f ? " + dout + " : 0.0f";
  };
  register_unary(ops, u);
  layers.push_back(unary_layer("ReLU", {{"inplace", ArgType::boolean, Attr{false}}}, "relu"));
}

}  // namespace ltgen
