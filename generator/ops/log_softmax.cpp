/// \file
/// LogSoftmax(dim) as torch.nn.LogSoftmax: y = x - logsumexp(x) along dim,
/// backward dx = dy - exp(y) * sum(dy); the lowering is shared with Softmax
/// (softmax.cpp).
#include "ops.hpp"
#include "softmax.hpp"

namespace ltgen {

void register_log_softmax(std::vector<OpDef>& ops, std::vector<LayerDef>& layers) {
  register_softmax_kind(ops, layers, true);
}

}  // namespace ltgen
