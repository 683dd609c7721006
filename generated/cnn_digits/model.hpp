// cnn_digits: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace cnn_digits {
const ltrt::ModelDef& model();
}  // namespace cnn_digits
