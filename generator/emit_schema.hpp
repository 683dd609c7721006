/// \file
/// The JSON Schema of specs, for editors: `ltgen --schema` > specs/schema.json.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ltgen {

std::string emit_schema();

/// The arguments each torch.optim class takes, with their JSON types.
const std::vector<std::pair<std::string, std::vector<std::pair<std::string, const char*>>>>& optimizer_arguments();

}  // namespace ltgen
