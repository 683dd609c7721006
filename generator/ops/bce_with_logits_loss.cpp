/// \file
/// BCEWithLogitsLoss: max(x, 0) - x y + log(1 + exp(-|x|)), the stable form
/// torch uses; d/dx = sigmoid(x) - y.
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

void register_bce_with_logits_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  PointwiseLoss l;
  l.name = "bce_with_logits_loss";
  l.torch_type = "BCEWithLogitsLoss";
  l.flops_per_element = 8;
  l.term = [](const Node&) { return "std::max(x, 0.0f) - x * y + std::log1p(std::exp(-std::fabs(x)))"; };
  l.grad = [](const Node&) { return "ltrt::sigmoid(x) - y"; };
  register_pointwise_loss(ops, layers, l);
}

}  // namespace ltgen
