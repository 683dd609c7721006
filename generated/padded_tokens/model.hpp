// padded_tokens: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace padded_tokens {
const ltrt::ModelDef& model();
const ltrt::DeviceSteps& cuda_steps();  // model_cuda.cu
}  // namespace padded_tokens
