/// \file
/// The JSON Schema of specs, for editors: `ltgen --schema` > specs/schema.json.
#pragma once

#include <string>

namespace ltgen {

std::string emit_schema();

}  // namespace ltgen
