// mlp: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace mlp {
const ltrt::ModelDef& model();
}  // namespace mlp
