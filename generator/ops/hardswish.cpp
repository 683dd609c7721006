/// \file
/// Hardswish: x relu6(x + 3) / 6 and Hardsigmoid: relu6(x + 3) / 6, with torch 2.x's derivatives
/// (hardswish_backward: 0 up to -3, x / 3 + 1/2 strictly inside (-3, 3), 1 from 3;
/// hardsigmoid_backward: 1/6 strictly inside (-3, 3), else 0). Backward reads the input.
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

void register_hardswish(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  UnaryOp s;
  s.name = "hardswish";
  s.flops_per_element = 5;
  s.saved = Saved::input;
  s.forward = [](const Node&, const std::string& x) { return "ltrt::hardswish(" + x + ")"; };
  s.backward = [](const Node&, const std::string& dout, const std::string& x) {
    return dout + " * ltrt::hardswish_grad(" + x + ")";
  };
  register_unary(ops, s);
  layers.push_back(unary_layer("Hardswish", {{"inplace", ArgType::boolean, Attr{false}}}, "hardswish"));

  UnaryOp g;
  g.name = "hardsigmoid";
  g.flops_per_element = 4;
  g.saved = Saved::input;
  g.forward = [](const Node&, const std::string& x) { return "ltrt::hardsigmoid(" + x + ")"; };
  g.backward = [](const Node&, const std::string& dout, const std::string& x) {
    return dout + " * ltrt::hardsigmoid_grad(" + x + ")";
  };
  register_unary(ops, g);
  layers.push_back(unary_layer("Hardsigmoid", {{"inplace", ArgType::boolean, Attr{false}}}, "hardsigmoid"));
}

}  // namespace ltgen
