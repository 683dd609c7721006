// mlp_digits: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace mlp_digits {
const ltrt::ModelDef& model();
}  // namespace mlp_digits
