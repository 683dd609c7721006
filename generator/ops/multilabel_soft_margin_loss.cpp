/// \file
/// MultiLabelSoftMarginLoss(weight): a logistic loss per class against targets of 0 and 1, each
/// sample's loss the mean over its classes (the last dimension), as torch's Python
/// multilabel_soft_margin_loss: -(y log_sigmoid(x) + (1 - y) log_sigmoid(-x)), times the class's
/// weight; d/dx = sigmoid(x) - y, times the weight. 'mean' averages every element, 'sum' adds the
/// samples' means.
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

void register_multilabel_soft_margin_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  PointwiseLoss l;
  l.name = "multilabel_soft_margin_loss";
  l.torch_type = "MultiLabelSoftMarginLoss";
  l.mean_over_last_dim = true;
  ArgDef weight{"weight", ArgType::number_list, std::nullopt};
  weight.optional = true;
  l.extra_args = {weight};
  l.flops_per_element = 10;
  l.constants = [](CodeWriter& w, const Node& n) {
    if (!n.attrs.count("weight")) return;
    const std::vector<double>& v = attr_floats(n, "weight");
    std::string list;
    for (double x : v) list += (list.empty() ? "" : ", ") + float_literal(x);
    w.line("constexpr int kClasses = " + std::to_string(v.size()) + ";  // the last dimension: element i is class i % kClasses");
    w.line("constexpr float kWeight[kClasses] = {" + list + "};");
  };
  // log_sigmoid(x) = min(x, 0) - log1p(exp(-|x|)), torch's CPU formula.
  l.term = [](const Node& n) {
    const std::string term =
        "-(y * (std::min(x, 0.0f) - std::log1p(std::exp(-std::fabs(x)))) + "
        "(1.0f - y) * (std::min(-x, 0.0f) - std::log1p(std::exp(-std::fabs(x)))))";
    return n.attrs.count("weight") ? "kWeight[i % kClasses] * " + term : term;
  };
  l.grad = [](const Node& n) {
    return n.attrs.count("weight") ? "kWeight[i % kClasses] * (ltrt::sigmoid(x) - y)" : "ltrt::sigmoid(x) - y";
  };
  l.check_input = [](const Graph& g, const std::vector<int>& in, const Attrs& args) {
    auto it = args.find("weight");
    if (it == args.end()) return;
    const std::int64_t classes = g.value(in.at(1)).shape.back();
    const auto& v = std::get<std::vector<double>>(it->second);
    if (static_cast<std::int64_t>(v.size()) != classes)
      throw ShapeError("weight has " + std::to_string(v.size()) + " entries but the target's last dimension (its "
                       "classes) is " + std::to_string(classes) + ": give one per class");
  };
  register_pointwise_loss(ops, layers, l);
}

}  // namespace ltgen
