// linear: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace linear {
const ltrt::ModelDef& model();
}  // namespace linear
