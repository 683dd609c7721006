// cnn_fashion: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace cnn_fashion {
const ltrt::ModelDef& model();
}  // namespace cnn_fashion
