/// \file
/// LogSigmoid: min(x, 0) - log(1 + exp(-|x|)), torch's stable form; d/dx = 1 - sigmoid(x), written
/// as torch's log_sigmoid_backward does. Backward reads the input.
#include "elementwise.hpp"
#include "ops.hpp"

namespace ltgen {

void register_log_sigmoid(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  UnaryOp l;
  l.name = "log_sigmoid";
  l.flops_per_element = 20;
  l.saved = Saved::input;
  l.forward = [](const Node&, const std::string& x) { return "ltrt::log_sigmoid(" + x + ")"; };
  l.backward = [](const Node&, const std::string& dout, const std::string& x) {
    return dout + " * ltrt::log_sigmoid_grad(" + x + ")";
  };
  register_unary(ops, l);
  layers.push_back(unary_layer("LogSigmoid", {}, "log_sigmoid"));
}

}  // namespace ltgen
