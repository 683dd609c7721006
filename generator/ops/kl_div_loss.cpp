/// \file
/// KLDivLoss(reduction, log_target): the prediction x holds log-probabilities (a LogSoftmax's), the
/// target y probabilities, or log-probabilities with log_target. As torch's kl_div, each element is
/// xlogy(y, y) - y * x (y log y, 0 where y == 0), or exp(y) * (y - x) with log_target; d/dx = -y,
/// or -exp(y). 'batchmean' divides the sum by the batch size (the KL divergence per sample); torch's
/// default 'mean' divides by every element.
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

void register_kl_div_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  PointwiseLoss l;
  l.name = "kl_div_loss";
  l.torch_type = "KLDivLoss";
  l.batchmean = true;
  l.extra_args = {{"log_target", ArgType::boolean, Attr{false}}};
  l.flops_per_element = 4;
  l.term = [](const Node& n) -> std::string {
    if (attr_bool(n, "log_target")) return "std::exp(y) * (y - x)";
    return "(y == 0.0f ? 0.0f : y * std::log(y)) - y * x";  // xlogy(y, y) - y * x
  };
  l.grad = [](const Node& n) -> std::string { return attr_bool(n, "log_target") ? "-std::exp(y)" : "-y"; };
  register_pointwise_loss(ops, layers, l);
}

}  // namespace ltgen
