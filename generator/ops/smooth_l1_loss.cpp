/// \file
/// SmoothL1Loss(beta): 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta; d/dx = d / beta
/// there, else sign(d) (torch's smooth_l1_loss_backward). beta = 0 is L1Loss, as torch computes it.
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

void register_smooth_l1_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  PointwiseLoss l;
  l.name = "smooth_l1_loss";
  l.torch_type = "SmoothL1Loss";
  ArgDef beta{"beta", ArgType::number, Attr{1.0}};
  beta.min = 0.0;
  l.extra_args = {beta};
  l.flops_per_element = 5;
  l.constants = [](CodeWriter& w, const Node& n) {
    if (attr_float(n, "beta") != 0.0) w.line("constexpr float kBeta = " + float_literal(attr_float(n, "beta")) + ";");
  };
  l.term = [](const Node& n) -> std::string {
    if (attr_float(n, "beta") == 0.0) return "std::fabs(x - y)  /* beta=0: L1Loss, as torch */";
    return "(std::fabs(x - y) < kBeta ? 0.5f * (x - y) * (x - y) / kBeta : std::fabs(x - y) - 0.5f * kBeta)";
  };
  l.grad = [](const Node& n) -> std::string {
    if (attr_float(n, "beta") == 0.0) return "(x > y ? 1.0f : x < y ? -1.0f : 0.0f)";
    return "(x - y <= -kBeta ? -1.0f : x - y >= kBeta ? 1.0f : (x - y) / kBeta)";
  };
  register_pointwise_loss(ops, layers, l);
}

}  // namespace ltgen
