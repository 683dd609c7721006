// hparams.yaml as Lightning writes it: yaml.dump(hparams) of a dict, i.e.
// PyYAML block style, keys sorted, 2-space indents, lists not indented under
// their key, "{}" / "[]" for empty ones, strings quoted only where PyYAML
// would (so that they read back as strings). PyYAML's folding of strings
// longer than 80 columns is not reproduced.
#pragma once

#include "ltrt/json.hpp"

#include <string>

namespace ltrt {

// The YAML text of hparams (a JSON object; anything else is an Error).
std::string hparams_yaml(const json::Value& hparams);

// Writes hparams_yaml(hparams) to path atomically.
void write_hparams_yaml(const std::string& path, const json::Value& hparams);

}  // namespace ltrt
