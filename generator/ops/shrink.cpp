/// \file
/// The shrinkage activations, as torch's ATen kernels compute them:
///   Hardshrink(lambd): 0 where -lambd <= x <= lambd, else x; d/dx 0 there, else 1.
///   Softshrink(lambd): x - lambd above lambd, x + lambd below -lambd, else x * 0 (NaN stays NaN);
///                      d/dx 0 where -lambd <= x <= lambd, else 1.
///   Tanhshrink:        x - tanh(x) (torch's composite); d/dx = tanh(x)^2.
/// Backward reads the input.

#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

void write_lambd(CodeWriter& w, const Node& n) {
  w.line("constexpr float kLambd = " + float_literal(attr_float(n, "lambd")) + ";");
}

// 0 where -lambd <= x <= lambd (torch's backward of both), else dout.
std::string outside_band(const std::string& dout, const std::string& x) {
  return "(" + x + " >= -kLambd && " + x + " <= kLambd ? 0.0f : " + dout + ")";
}

ArgDef lambd_arg() {
  ArgDef lambd{"lambd", ArgType::number, Attr{0.5}};
  lambd.min = 0.0;  // torch: "lambda must be greater or equal to 0"
  return lambd;
}

}  // namespace

void register_shrink(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  UnaryOp hard;
  hard.name = "hardshrink";
  hard.flops_per_element = 2;
  hard.saved = Saved::input;
  hard.constants = write_lambd;
  hard.forward = [](const Node&, const std::string& x) { return "(" + x + " >= -kLambd && " + x + " <= kLambd ? 0.0f : " + x + ")"; };
  hard.backward = [](const Node&, const std::string& dout, const std::string& x) { return outside_band(dout, x); };
  register_unary(ops, hard);
  layers.push_back(unary_layer("Hardshrink", {lambd_arg()}, "hardshrink"));

  UnaryOp soft;
  soft.name = "softshrink";
  soft.flops_per_element = 3;
  soft.saved = Saved::input;
  soft.constants = write_lambd;
  soft.forward = [](const Node&, const std::string& x) {
    return "(" + x + " > kLambd ? " + x + " - kLambd : (" + x + " < -kLambd ? " + x + " + kLambd : " + x + " * 0.0f))";
  };
  soft.backward = [](const Node&, const std::string& dout, const std::string& x) { return outside_band(dout, x); };
  register_unary(ops, soft);
  layers.push_back(unary_layer("Softshrink", {lambd_arg()}, "softshrink"));

  UnaryOp tanh;
  tanh.name = "tanhshrink";
  tanh.flops_per_element = 4;
  tanh.saved = Saved::input;
  tanh.forward = [](const Node&, const std::string& x) { return "(" + x + " - std::tanh(" + x + "))"; };
  tanh.backward = [](const Node&, const std::string& dout, const std::string& x) {
    return "(" + dout + " * (std::tanh(" + x + ") * std::tanh(" + x + ")))";
  };
  register_unary(ops, tanh);
  layers.push_back(unary_layer("Tanhshrink", {}, "tanhshrink"));
}

}  // namespace ltgen
