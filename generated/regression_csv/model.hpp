// regression_csv: the generated model's entry point (see model.cpp).
#pragma once

#include <ltrt/model.hpp>

namespace regression_csv {
const ltrt::ModelDef& model();
}  // namespace regression_csv
