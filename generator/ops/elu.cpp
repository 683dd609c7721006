/// \file
/// The ELU family, as torch's elu kernel computes all three: x > 0 ? scale x : alpha scale
/// (exp(input_scale x) - 1). ELU(alpha); CELU(alpha) is input_scale = 1 / alpha; SELU fixes alpha
/// and scale. Backward reads the input (torch's elu_backward with is_result=false).
#include <array>
#include <functional>

#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

namespace {

// SELU's constants, torch.nn.functional.selu's.
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;

// A layer of the family: `coefficients` gives (alpha, scale, input_scale) from the layer's arguments.
LayerDef elu_layer(const std::string& torch_type, std::vector<ArgDef> args,
                   std::function<std::array<double, 3>(const Attrs&)> coefficients) {
  LayerDef l;
  l.torch_type = torch_type;
  l.args = std::move(args);
  l.build = [coefficients](LayerBuild& b, const std::vector<int>& in) {
    const std::array<double, 3> c = coefficients(b.args);
    Node n;
    n.op = "elu";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs["alpha"] = c[0];
    n.attrs["scale"] = c[1];
    n.attrs["input_scale"] = c[2];
    n.inputs = {in.at(0)};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    return b.graph.nodes[id].outputs[0];
  };
  return l;
}

}  // namespace

void register_elu(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  UnaryOp u;
  u.name = "elu";
  u.flops_per_element = 12;
  u.saved = Saved::input;
  u.constants = [](CodeWriter& w, const Node& n) {
    const double alpha = attr_float(n, "alpha"), scale = attr_float(n, "scale");
    w.line("constexpr float kNegCoef = " + float_literal(alpha * scale) + ";  // alpha * scale");
    w.line("constexpr float kPosCoef = " + float_literal(scale) + ";  // scale");
    w.line("constexpr float kInputScale = " + float_literal(attr_float(n, "input_scale")) + ";");
  };
  u.forward = [](const Node&, const std::string& x) {
    return "ltrt::elu(" + x + ", kNegCoef, kPosCoef, kInputScale)";
  };
  u.backward = [](const Node&, const std::string& dout, const std::string& x) {
    return dout + " * ltrt::elu_grad(" + x + ", kNegCoef, kPosCoef, kInputScale)";
  };
  register_unary(ops, u);
  const ArgDef inplace{"inplace", ArgType::boolean, Attr{false}};
  layers.push_back(elu_layer("ELU", {{"alpha", ArgType::number, Attr{1.0}}, inplace}, [](const Attrs& a) {
    return std::array<double, 3>{std::get<double>(a.at("alpha")), 1.0, 1.0};
  }));
  ArgDef celu_alpha{"alpha", ArgType::number, Attr{1.0}};
  celu_alpha.min = 1e-30;  // torch divides by it (ZeroDivisionError at 0)
  layers.push_back(elu_layer("CELU", {celu_alpha, inplace}, [](const Attrs& a) {
    const double alpha = std::get<double>(a.at("alpha"));
    return std::array<double, 3>{alpha, 1.0, 1.0 / alpha};
  }));
  layers.push_back(elu_layer("SELU", {inplace}, [](const Attrs&) {
    return std::array<double, 3>{kSeluAlpha, kSeluScale, 1.0};
  }));
}

}  // namespace ltgen
