/// \file
/// Softplus(beta, threshold): log(1 + exp(beta x)) / beta, x itself where beta x > threshold;
/// d/dx = e / (e + 1), e = exp(beta x) (torch's softplus_backward). Backward reads the input.
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

void register_softplus(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  UnaryOp u;
  u.name = "softplus";
  u.flops_per_element = 20;
  u.saved = Saved::input;
  u.constants = [](CodeWriter& w, const Node& n) {
    w.line("constexpr float kBeta = " + float_literal(attr_float(n, "beta")) + ";");
    w.line("constexpr float kThreshold = " + float_literal(attr_float(n, "threshold")) + ";");
  };
  u.forward = [](const Node&, const std::string& x) { return "ltrt::softplus(" + x + ", kBeta, kThreshold)"; };
  u.backward = [](const Node&, const std::string& dout, const std::string& x) {
    return dout + " * ltrt::softplus_grad(" + x + ", kBeta, kThreshold)";
  };
  register_unary(ops, u);
  LayerDef l = unary_layer("Softplus", {{"beta", ArgType::number, Attr{1.0}}, {"threshold", ArgType::number, Attr{20.0}}},
                           "softplus");
  const auto build = l.build;
  l.build = [build](LayerBuild& b, const std::vector<int>& in) {
    if (std::get<double>(b.args.at("beta")) == 0)
      throw ShapeError("beta must not be 0: Softplus divides by it (torch's result would be NaN)");
    return build(b, in);
  };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
