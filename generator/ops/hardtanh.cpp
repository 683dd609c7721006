/// \file
/// Hardtanh(min_val, max_val): x clamped to [min_val, max_val]; ReLU6 is Hardtanh(0, 6), as
/// torch's ReLU6 subclasses it. d/dx = 0 where x <= min_val or x >= max_val, else 1 (torch's
/// hardtanh_backward: the bounds themselves get no gradient). Backward reads the input.
#include <ltrt/python_repr.hpp>

#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

void register_hardtanh(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  UnaryOp u;
  u.name = "hardtanh";
  u.flops_per_element = 2;
  u.saved = Saved::input;
  u.constants = [](CodeWriter& w, const Node& n) {
    w.line("constexpr float kMinVal = " + float_literal(attr_float(n, "min_val")) + ";");
    w.line("constexpr float kMaxVal = " + float_literal(attr_float(n, "max_val")) + ";");
  };
  u.forward = [](const Node&, const std::string& x) { return "std::min(std::max(" + x + ", kMinVal), kMaxVal)"; };
  u.backward = [](const Node&, const std::string& dout, const std::string& x) {
    return "(" + x + " <= kMinVal || " + x + " >= kMaxVal ? 0.0f : " + dout + ")";
  };
  register_unary(ops, u);
  LayerDef hardtanh = unary_layer("Hardtanh",
                                  {{"min_val", ArgType::number, Attr{-1.0}}, {"max_val", ArgType::number, Attr{1.0}},
                                   {"inplace", ArgType::boolean, Attr{false}}},
                                  "hardtanh");
  const auto build = hardtanh.build;
  hardtanh.build = [build](LayerBuild& b, const std::vector<int>& in) {
    const double lo = std::get<double>(b.args.at("min_val")), hi = std::get<double>(b.args.at("max_val"));
    if (hi <= lo)
      throw ShapeError("max_val (" + ltrt::python_repr(hi) + ") must be greater than min_val (" + ltrt::python_repr(lo) +
                       "), as torch asserts");
    return build(b, in);
  };
  layers.push_back(std::move(hardtanh));
  LayerDef relu6 = unary_layer("ReLU6", {{"inplace", ArgType::boolean, Attr{false}}}, "hardtanh");
  const auto relu6_build = relu6.build;
  relu6.build = [relu6_build](LayerBuild& b, const std::vector<int>& in) {
    b.args["min_val"] = 0.0;
    b.args["max_val"] = 6.0;
    return relu6_build(b, in);
  };
  layers.push_back(std::move(relu6));
}

}  // namespace ltgen
