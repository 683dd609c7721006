// mlp_digits_fp16: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace mlp_digits_fp16 {
const ltrt::ModelDef& model();
const ltrt::DeviceSteps& cuda_steps();  // model_cuda.cu
}  // namespace mlp_digits_fp16
