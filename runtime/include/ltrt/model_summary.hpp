// Lightning's ModelSummary table, printed when fit starts
// (Trainer(enable_model_summary=True)): one row per layer of the spec.
#pragma once

#include <cstdint>
#include <string>

#include "ltrt/model.hpp"

namespace ltrt {

std::string model_summary(const ModelDef& model);

// Lightning's get_human_readable_count: 11 -> "11", 1234 -> "1.2 K", 269322 -> "269 K".
std::string human_readable_count(std::int64_t n);

}  // namespace ltrt
