/// \file
/// The ELU family, as torch's elu kernel computes all three: x > 0 ? scale x : alpha scale
/// (exp(input_scale x) - 1). ELU(alpha); CELU(alpha) is input_scale = 1 / alpha; SELU fixes alpha
/// and scale. Backward reads the input (torch's elu_backward with is_result=false); with
/// inplace=True torch's backward reads the result instead (is_result=true), and so does ltgen's
/// elu_inplace, whose gradient differs in the last bits (in bfloat16, visibly).
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
    const bool inplace = std::get<bool>(b.args.at("inplace"));
    if (inplace && c[0] < 0)  // torch's elu_backward on the result refuses it
      throw ShapeError("inplace=True with a negative alpha has no backward in torch "
                       "(\"In-place elu backward calculation is triggered with a negative slope\"); "
                       "use inplace=False");
    Node n;
    n.op = inplace ? "elu_inplace" : "elu";
    n.layer = b.layer;
    n.source = b.source;
    n.attrs["alpha"] = c[0];
    n.attrs["scale"] = c[1];
    n.attrs["input_scale"] = c[2];
    n.inputs = {in.at(0)};
    const int id = add_op(b.graph, std::move(n), cpp_name(b.layer) + "_out");
    const int out = b.graph.nodes[id].outputs[0];
    keep_torch_layout(b.graph, out, {in.at(0)});  // torch's result keeps its input's memory order
    return out;
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
  // inplace=True: the same forward, the gradient from the result.
  UnaryOp r = u;
  r.name = "elu_inplace";
  r.saved = Saved::output;
  r.backward = [](const Node&, const std::string& dout, const std::string& y) {
    return dout + " * ltrt::elu_grad_from_result(" + y + ", kNegCoef, kPosCoef, kInputScale)";
  };
  register_unary(ops, r);

  const ArgDef inplace{"inplace", ArgType::boolean, Attr{false}};
  layers.push_back(elu_layer("ELU", {{"alpha", ArgType::number, Attr{1.0}}, inplace}, [](const Attrs& a) {
    return std::array<double, 3>{std::get<double>(a.at("alpha")), 1.0, 1.0};
  }));
  layers.push_back(elu_layer("CELU", {{"alpha", ArgType::number, Attr{1.0}}, inplace}, [](const Attrs& a) {
    const double alpha = std::get<double>(a.at("alpha"));
    if (alpha == 0) throw ShapeError("alpha must not be 0: CELU divides by it (torch raises ZeroDivisionError)");
    return std::array<double, 3>{alpha, 1.0, 1.0 / alpha};
  }));
  layers.push_back(elu_layer("SELU", {inplace}, [](const Attrs&) {
    return std::array<double, 3>{kSeluAlpha, kSeluScale, 1.0};
  }));
}

}  // namespace ltgen
