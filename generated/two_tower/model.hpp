// two_tower: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace two_tower {
const ltrt::ModelDef& model();
const ltrt::DeviceSteps& cuda_steps();  // model_cuda.cu
}  // namespace two_tower
