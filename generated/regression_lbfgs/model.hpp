// regression_lbfgs: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace regression_lbfgs {
const ltrt::ModelDef& model();
const ltrt::DeviceSteps& cuda_steps();  // model_cuda.cu
}  // namespace regression_lbfgs
