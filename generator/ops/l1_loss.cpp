/// \file
/// L1Loss: |x - y|; d/dx = sign(x - y), 0 where x == y (as torch's sgn).
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

void register_l1_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  PointwiseLoss l;
  l.name = "l1_loss";
  l.torch_type = "L1Loss";
  l.flops_per_element = 2;
  l.term = [](const Node&) { return "std::fabs(x - y)"; };
  l.grad = [](const Node&) { return "static_cast<float>((x > y) - (x < y))"; };
  register_pointwise_loss(ops, layers, l);
}

}  // namespace ltgen
