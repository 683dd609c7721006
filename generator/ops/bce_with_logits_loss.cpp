/// \file
/// BCEWithLogitsLoss as torch 2.x computes it: (1 - y) x - log_sigmoid(x), log_sigmoid(x) =
/// min(x, 0) - log(1 + exp(-|x|)); d/dx = sigmoid(x) - y. With pos_weight p (per class, the last
/// dimension), (1 - y) x - (1 + (p - 1) y) log_sigmoid(x) and d/dx = (p y + 1 - y) sigmoid(x) - p y;
/// with weight w (per class), each element's loss and gradient times w.
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

namespace {

bool has(const Node& n, const char* key) { return n.attrs.count(key) > 0; }

std::string float_array(const std::string& name, const std::vector<double>& v) {
  std::string list;
  for (double x : v) list += (list.empty() ? "" : ", ") + float_literal(x);
  return "constexpr float " + name + "[kClasses] = {" + list + "};";
}

ArgDef class_list(const char* name) {
  ArgDef a{name, ArgType::number_list, std::nullopt};
  a.optional = true;
  return a;
}

}  // namespace

void register_bce_with_logits_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  PointwiseLoss l;
  l.name = "bce_with_logits_loss";
  l.torch_type = "BCEWithLogitsLoss";
  l.flops_per_element = 8;
  l.extra_args = {class_list("weight"), class_list("pos_weight")};
  l.constants = [](CodeWriter& w, const Node& n) {
    if (!has(n, "weight") && !has(n, "pos_weight")) return;
    const char* key = has(n, "weight") ? "weight" : "pos_weight";
    w.line("constexpr int kClasses = " + std::to_string(attr_floats(n, key).size()) +
           ";  // the last dimension: element i is class i % kClasses");
    if (has(n, "weight")) w.line(float_array("kWeight", attr_floats(n, "weight")));
    if (has(n, "pos_weight")) w.line(float_array("kPosWeight", attr_floats(n, "pos_weight")));
  };
  l.term = [](const Node& n) {
    const std::string term =
        has(n, "pos_weight")
            ? "(1.0f - y) * x - (1.0f + (kPosWeight[i % kClasses] - 1.0f) * y) * "
              "(std::min(x, 0.0f) - std::log1p(std::exp(-std::fabs(x))))"
            : "(1.0f - y) * x - (std::min(x, 0.0f) - std::log1p(std::exp(-std::fabs(x))))";
    return has(n, "weight") ? "kWeight[i % kClasses] * (" + term + ")" : term;
  };
  l.grad = [](const Node& n) {
    const std::string grad =
        has(n, "pos_weight")
            ? "(kPosWeight[i % kClasses] * y + 1.0f - y) * ltrt::sigmoid(x) - kPosWeight[i % kClasses] * y"
            : "ltrt::sigmoid(x) - y";
    return has(n, "weight") ? "kWeight[i % kClasses] * (" + grad + ")" : grad;
  };
  l.check_input = [](const Graph& g, const std::vector<int>& in, const Attrs& args) {
    const std::int64_t classes = g.value(in.at(1)).shape.back();
    for (const char* key : {"weight", "pos_weight"}) {
      auto it = args.find(key);
      if (it == args.end()) continue;
      const auto& v = std::get<std::vector<double>>(it->second);
      if (static_cast<std::int64_t>(v.size()) != classes)
        throw ShapeError(std::string(key) + " has " + std::to_string(v.size()) + " entries but the target's last "
                         "dimension (its classes) is " + std::to_string(classes) + ": give one per class");
    }
  };
  register_pointwise_loss(ops, layers, l);
}

}  // namespace ltgen
