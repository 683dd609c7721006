/// \file
/// MSELoss: (x - y)^2; d/dx = 2 (x - y).
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

void register_mse_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  PointwiseLoss l;
  l.name = "mse_loss";
  l.torch_type = "MSELoss";
  l.flops_per_element = 3;
  l.term = [](const Node&) { return "(x - y) * (x - y)"; };
  l.grad = [](const Node&) { return "2.0f * (x - y)"; };
  register_pointwise_loss(ops, layers, l);
}

}  // namespace ltgen
