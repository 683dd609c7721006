/// \file
/// GELU, exact (erf) or tanh-approximated as torch.nn.GELU(approximate=...).
/// Backward reads the input.
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

void register_gelu(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  UnaryOp u;
  u.name = "gelu";
  u.flops_per_element = 20;
  u.saved = Saved::input;
  u.constants = [](CodeWriter& w, const Node& n) {
    if (attr_str(n, "approximate") == "tanh") {
      w.line("constexpr float kSqrt2OverPi = 0.7978845608028654f;");
      w.line("constexpr float kCubic = 0.044715f;");
    } else {
      w.line("constexpr float kInvSqrt2 = 0.7071067811865476f;");
    }
  };
  u.forward = [](const Node& n, const std::string& x) {
    if (attr_str(n, "approximate") == "tanh")
      return "ltrt::gelu_tanh(" + x + ", kSqrt2OverPi, kCubic)";
    return "ltrt::gelu_erf(" + x + ", kInvSqrt2)";
  };
  u.backward = [](const Node& n, const std::string& dout, const std::string& x) {
    if (attr_str(n, "approximate") == "tanh")
      return dout + " * ltrt::gelu_tanh_grad(" + x + ", kSqrt2OverPi, kCubic)";
    return dout + " * ltrt::gelu_erf_grad(" + x + ", kInvSqrt2)";
  };
  register_unary(ops, u);
  ArgDef approximate{"approximate", ArgType::string, Attr{std::string("none")}};
  approximate.choices = {"none", "tanh"};
  layers.push_back(unary_layer("GELU", {approximate}, "gelu"));
}

}  // namespace ltgen
