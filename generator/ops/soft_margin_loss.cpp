/// \file
/// SoftMarginLoss: two-class logistic loss on targets of 1 and -1, log(1 + exp(-y x)) per element;
/// d/dx = -y exp(-y x) / (1 + exp(-y x)) (torch's soft_margin_loss_backward).
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

void register_soft_margin_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  PointwiseLoss l;
  l.name = "soft_margin_loss";
  l.torch_type = "SoftMarginLoss";
  l.flops_per_element = 5;
  l.term = [](const Node&) { return "std::log1p(std::exp(-x * y))"; };
  l.grad = [](const Node&) { return "-y * std::exp(-y * x) / (1.0f + std::exp(-y * x))"; };
  register_pointwise_loss(ops, layers, l);
}

}  // namespace ltgen
