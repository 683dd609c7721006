// data.<split>.transforms: torchvision's transforms of each sample's input, checked against the
// model's first input.
#pragma once

#include <ltrt/json.hpp>
#include <string>
#include <vector>

#include "spec.hpp"

namespace ltgen {

// Reads the list at `path` for samples of `input` in data.<split> ("train", "val", ...): only the
// training data's transforms may draw random numbers, and they must make the model input's shape of
// the source's (`source_shape`: a randn source's `shape`; nullptr: a file's, which has the model
// input's unless a transform crops it). Throws ltrt::ConfigError naming the place and the fix.
std::vector<TransformSpec> read_transforms(const ltrt::json::Value& v, const std::string& path, const InputSpec& input,
                                           const std::string& split, const Shape* source_shape);

}  // namespace ltgen
