/// \file
/// What Softmax and LogSoftmax share: one dimension `dim` of each sample (the
/// batch is dim 0, as torch counts; negative dims from the end) seen as
/// (outer, size, inner) per sample, a max-subtracted exponential sum along
/// `size`, and a backward that reads the op's output.
#pragma once

#include <vector>

#include "../op.hpp"

namespace ltgen {

/// Registers `softmax` / `softmax_backward` and the layer Softmax, or with
/// `log`, `log_softmax` / `log_softmax_backward` and LogSoftmax.
void register_softmax_kind(std::vector<OpDef>& ops, std::vector<LayerDef>& layers, bool log);

}  // namespace ltgen
