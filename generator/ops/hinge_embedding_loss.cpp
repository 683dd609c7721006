/// \file
/// HingeEmbeddingLoss(margin): targets 1 and -1 say whether a pair is alike; the prediction x is a
/// distance. As torch's hinge_embedding_loss, each element is x where y != -1 plus
/// max(margin - x, 0) where y != 1 (so both for other targets); d/dx is 1 from the first and -1
/// from the second where margin - x >= 0 (clamp_min's backward passes the gradient at the bound).
#include "ops.hpp"
#include "pointwise_loss.hpp"

namespace ltgen {

void register_hinge_embedding_loss(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  PointwiseLoss l;
  l.name = "hinge_embedding_loss";
  l.torch_type = "HingeEmbeddingLoss";
  l.extra_args = {{"margin", ArgType::number, Attr{1.0}}};
  l.flops_per_element = 4;
  l.constants = [](CodeWriter& w, const Node& n) {
    w.line("constexpr float kMargin = " + float_literal(attr_float(n, "margin")) + ";");
  };
  // (margin - x).clamp_min(0) keeps a NaN, as `d < 0 ? 0 : d` does (std::fmax would drop it).
  l.term = [](const Node&) {
    return "(y != 1.0f ? (kMargin - x < 0.0f ? 0.0f : kMargin - x) : 0.0f) + (y != -1.0f ? x : 0.0f)";
  };
  l.grad = [](const Node&) {
    return "(y != 1.0f && kMargin - x >= 0.0f ? -1.0f : 0.0f) + (y != -1.0f ? 1.0f : 0.0f)";
  };
  register_pointwise_loss(ops, layers, l);
}

}  // namespace ltgen
