/// \file
/// BCELoss on probabilities x in [0, 1] (a Sigmoid's output): -(y log x + (1 - y) log(1 - x)),
/// each log clamped at -100 as torch does; d/dx = (x - y) / max(x (1 - x), 1e-12) (torch's
/// binary_cross_entropy_backward). torch refuses inputs outside [0, 1] when it runs; ltgen
/// instead takes BCELoss only on a Sigmoid's output (through views), which always lies there.
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

void register_bce_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  PointwiseLoss l;
  l.name = "bce_loss";
  l.torch_type = "BCELoss";
  l.flops_per_element = 10;
  l.term = [](const Node&) {
    return "(y - 1.0f) * std::max(std::log1p(-x), -100.0f) - y * std::max(std::log(x), -100.0f)";
  };
  l.grad = [](const Node&) { return "(x - y) / std::max((1.0f - x) * x, 1e-12f)"; };
  l.check_input = [](const Graph& g, const std::vector<int>& in, const Attrs&) {
    const int v = g.root(in.at(0));
    const int producer = g.value(v).producer;
    if (producer < 0 || g.nodes[static_cast<size_t>(producer)].op != "sigmoid")
      throw ShapeError("expects probabilities: put a Sigmoid layer before it (torch refuses inputs outside [0, 1]), "
                       "or use BCEWithLogitsLoss on the logits, which is also more accurate");
  };
  register_pointwise_loss(ops, layers, l);
}

}  // namespace ltgen
