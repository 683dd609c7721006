/// \file
/// LeakyReLU: x > 0 ? x : negative_slope * x. Backward reads the input.
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

void register_leaky_relu(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  UnaryOp u;
  u.name = "leaky_relu";
  u.flops_per_element = 1;
  u.saved = Saved::input;
  u.constants = [](CodeWriter& w, const Node& n) {
    w.line("constexpr float kNegativeSlope = " + float_literal(attr_float(n, "negative_slope")) + ";");
  };
  u.forward = [](const Node&, const std::string& x) {
    return "(" + x + " > 0.0f ? " + x + " : " + x + " * kNegativeSlope)";
  };
  u.backward = [](const Node&, const std::string& dout, const std::string& x) {
    return x + " > 0.0f ? " + dout + " : " + dout + " * kNegativeSlope";
  };
  register_unary(ops, u);
  layers.push_back(unary_layer("LeakyReLU",
                               {{"negative_slope", ArgType::number, Attr{0.01}},
                                {"inplace", ArgType::boolean, Attr{false}}},
                               "leaky_relu"));
}

}  // namespace ltgen
