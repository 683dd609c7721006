// gpt_bf16: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace gpt_bf16 {
const ltrt::ModelDef& model();
}  // namespace gpt_bf16
