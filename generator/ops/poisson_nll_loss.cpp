/// \file
/// PoissonNLLLoss(log_input, full, eps): with log_input (torch's default) the prediction x is the
/// log of the rate, each element exp(x) - y x and d/dx = exp(x) - y; without, x is the rate,
/// x - y log(x + eps) and d/dx = 1 - y / (x + eps). `full` adds Stirling's approximation of
/// log(y!), y log y - y + 0.5 log(2 pi y), where y > 1 (0 elsewhere), which has no gradient.
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

void register_poisson_nll_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  PointwiseLoss l;
  l.name = "poisson_nll_loss";
  l.torch_type = "PoissonNLLLoss";
  ArgDef eps{"eps", ArgType::number, Attr{1e-8}};
  eps.min = 0.0;
  l.extra_args = {{"log_input", ArgType::boolean, Attr{true}}, {"full", ArgType::boolean, Attr{false}}, eps};
  l.flops_per_element = 6;
  l.constants = [](CodeWriter& w, const Node& n) {
    if (!attr_bool(n, "log_input"))
      w.line("constexpr float kEps = " + float_literal(attr_float(n, "eps")) + ";  // input + eps inside the log");
    if (attr_bool(n, "full"))
      w.line("constexpr float kTwoPi = " + float_literal(2 * 3.14159265358979323846) + ";  // 2 pi, a python float");
  };
  l.term = [](const Node& n) -> std::string {
    std::string t = attr_bool(n, "log_input") ? "std::exp(x) - y * x" : "x - y * std::log(x + kEps)";
    if (attr_bool(n, "full")) t = "(" + t + ") + (y > 1.0f ? y * std::log(y) - y + 0.5f * std::log(kTwoPi * y) : 0.0f)";
    return t;
  };
  l.grad = [](const Node& n) -> std::string {
    return attr_bool(n, "log_input") ? "std::exp(x) - y" : "1.0f - y / (x + kEps)";
  };
  register_pointwise_loss(ops, layers, l);
}

}  // namespace ltgen
