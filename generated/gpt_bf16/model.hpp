// gpt_bf16: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace gpt_bf16 {
const ltrt::ModelDef& model();
const ltrt::DeviceSteps& cuda_steps();  // model_cuda.cu
int exp_vector_width();                 // model.cpp's: its CUDA kernels split the keys as the CPU's attention does
}  // namespace gpt_bf16
