// fashion_mnist: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace fashion_mnist {
const ltrt::ModelDef& model();
const ltrt::DeviceSteps& cuda_steps();  // model_cuda.cu
}  // namespace fashion_mnist
