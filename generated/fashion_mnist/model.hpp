// fashion_mnist: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace fashion_mnist {
const ltrt::ModelDef& model();
}  // namespace fashion_mnist
