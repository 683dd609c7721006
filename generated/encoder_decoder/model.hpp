// encoder_decoder: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace encoder_decoder {
const ltrt::ModelDef& model();
const ltrt::DeviceSteps& cuda_steps();  // model_cuda.cu
}  // namespace encoder_decoder
