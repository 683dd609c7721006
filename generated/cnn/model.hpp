// cnn: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace cnn {
const ltrt::ModelDef& model();
}  // namespace cnn
