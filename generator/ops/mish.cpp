/// \file
/// Mish: x tanh(softplus(x)); d/dx = t + x sigmoid(x) (1 - t^2), t = tanh(softplus(x)) (torch's
/// mish_backward). Backward reads the input.
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

void register_mish(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  UnaryOp u;
  u.name = "mish";
  u.flops_per_element = 30;
  u.saved = Saved::input;
  u.forward = [](const Node&, const std::string& x) { return "ltrt::mish(" + x + ")"; };
  u.backward = [](const Node&, const std::string& dout, const std::string& x) {
    return dout + " * ltrt::mish_grad(" + x + ")";
  };
  register_unary(ops, u);
  layers.push_back(unary_layer("Mish", {{"inplace", ArgType::boolean, Attr{false}}}, "mish"));
}

}  // namespace ltgen
