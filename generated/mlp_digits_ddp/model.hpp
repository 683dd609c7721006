// mlp_digits_ddp: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace mlp_digits_ddp {
const ltrt::ModelDef& model();
}  // namespace mlp_digits_ddp
