// linear_hooks: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace linear_hooks {
const ltrt::ModelDef& model();
}  // namespace linear_hooks
