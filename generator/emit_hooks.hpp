/// \file
/// The generated side of user hooks: user_hooks.hpp, which tells the runtime
/// which hooks the spec's hooks file defines (see runtime/include/ltrt/hook_calls.hpp).
#pragma once

#include <string>

#include "spec.hpp"

namespace ltgen {

/// The name of the hooks file inside the generated project (a copy of the spec's).
inline constexpr const char* kHooksSource = "hooks.cpp";

/// user_hooks.hpp: one `inline constexpr bool` per hook of the API, true for those the file defines.
std::string emit_user_hooks_hpp(const Spec& spec);

}  // namespace ltgen
