// segment_digits: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace segment_digits {
const ltrt::ModelDef& model();
const ltrt::DeviceSteps& cuda_steps();  // model_cuda.cu
}  // namespace segment_digits
