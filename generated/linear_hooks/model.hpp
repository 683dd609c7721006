// linear_hooks: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace linear_hooks {
const ltrt::ModelDef& model();
const ltrt::DeviceSteps& cuda_steps();  // model_cuda.cu
}  // namespace linear_hooks
