/// \file
/// Threshold(threshold, value): x where x > threshold, else value, as torch's threshold kernel
/// (`x <= threshold ? value : x`); d/dx 0 where x <= threshold, else 1. Backward reads the input.
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

void register_threshold(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  UnaryOp u;
  u.name = "threshold";
  u.flops_per_element = 1;
  u.saved = Saved::input;
  u.constants = [](CodeWriter& w, const Node& n) {
    w.line("constexpr float kThreshold = " + float_literal(attr_float(n, "threshold")) + ";");
    w.line("constexpr float kValue = " + float_literal(attr_float(n, "value")) + ";");
  };
  u.forward = [](const Node&, const std::string& x) { return "(" + x + " <= kThreshold ? kValue : " + x + ")"; };
  u.backward = [](const Node&, const std::string& dout, const std::string& x) {
    return "(" + x + " <= kThreshold ? 0.0f : " + dout + ")";
  };
  register_unary(ops, u);
  layers.push_back(unary_layer("Threshold",
                               {{"threshold", ArgType::number, std::nullopt},
                                {"value", ArgType::number, std::nullopt},
                                {"inplace", ArgType::boolean, Attr{false}}},
                               "threshold"));
}

}  // namespace ltgen
