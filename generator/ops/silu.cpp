/// \file
/// SiLU: x * sigmoid(x). Backward reads the input: s * (1 + x * (1 - s)).
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

void register_silu(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  UnaryOp u;
  u.name = "silu";
  u.flops_per_element = 5;
  u.saved = Saved::input;
  u.forward = [](const Node&, const std::string& x) { return "ltrt::silu(" + x + ")"; };
  u.backward = [](const Node&, const std::string& dout, const std::string& x) {
    return dout + " * ltrt::silu_grad(" + x + ")";
  };
  register_unary(ops, u);
  layers.push_back(unary_layer("SiLU", {{"inplace", ArgType::boolean, Attr{false}}}, "silu"));
}

}  // namespace ltgen
