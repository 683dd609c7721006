/// \file
/// Identity: no op at all; the layer's output is its input.
#include "ops.hpp"

namespace ltgen {

void register_identity(std::vector<OpDef>&, std::vector<LayerDef>& layers) {
  LayerDef l;
  l.torch_type = "Identity";
  l.build = [](LayerBuild&, const std::vector<int>& in) { return in.at(0); };
  layers.push_back(std::move(l));
}

}  // namespace ltgen
