/// \file
/// Softsign: x / (1 + |x|); d/dx = 1 / (1 + |x|)^2. Backward reads the input.
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

void register_softsign(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  UnaryOp s;
  s.name = "softsign";
  s.flops_per_element = 3;
  s.saved = Saved::input;
  s.forward = [](const Node&, const std::string& x) { return "ltrt::softsign(" + x + ")"; };
  s.backward = [](const Node&, const std::string& dout, const std::string& x) {
    return dout + " * ltrt::softsign_grad(" + x + ")";
  };
  register_unary(ops, s);
  layers.push_back(unary_layer("Softsign", {}, "softsign"));
}

}  // namespace ltgen
