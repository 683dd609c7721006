// embedding_bag: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace embedding_bag {
const ltrt::ModelDef& model();
const ltrt::DeviceSteps& cuda_steps();  // model_cuda.cu
}  // namespace embedding_bag
