/// \file
/// HuberLoss(delta): 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta);
/// d/dx = d clamped to [-delta, delta] (torch's huber_loss_backward).
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

void register_huber_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  PointwiseLoss l;
  l.name = "huber_loss";
  l.torch_type = "HuberLoss";
  ArgDef delta{"delta", ArgType::number, Attr{1.0}};
  delta.min = 0.0;
  delta.positive = "must be greater than 0 (torch: huber_loss does not support non-positive values for delta.)";
  l.extra_args = {delta};
  l.flops_per_element = 5;
  l.constants = [](CodeWriter& w, const Node& n) {
    w.line("constexpr float kDelta = " + float_literal(attr_float(n, "delta")) + ";");
  };
  l.term = [](const Node&) {
    return "(std::fabs(x - y) < kDelta ? 0.5f * (x - y) * (x - y) : kDelta * (std::fabs(x - y) - 0.5f * kDelta))";
  };
  l.grad = [](const Node&) { return "std::clamp(x - y, -kDelta, kDelta)"; };
  register_pointwise_loss(ops, layers, l);
}

}  // namespace ltgen
