// cnn_digits_bf16: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace cnn_digits_bf16 {
const ltrt::ModelDef& model();
const ltrt::DeviceSteps& cuda_steps();  // model_cuda.cu
}  // namespace cnn_digits_bf16
